/* SPDX-License-Identifier: ISC */
/*
 * store_group: group commit, the same for every backend.
 *
 * A deposit or a release writes a few rows and must not be answered
 * before they are on disk; one flush per request bounds a server at the
 * disk's flush rate however idle its cores are.  Here the writes of
 * concurrent requests share one transaction, so one flush:
 *
 *   - A thread queues its operation.  If fewer groups are being
 *     committed than the backend allows at once (txn_max: SQLite has one
 *     writer; PostgreSQL flushes the commits of several connections
 *     together), it becomes a leader: it takes the whole queue, runs
 *     every operation in one transaction (the backend's txn_begin /
 *     txn_end), and marks each done with its result.  Operations queued
 *     meanwhile wait; when a leader is done, one of their threads leads
 *     the next group.
 *     Only the threads that have something to do are woken: the owners
 *     of a committed group's operations, and the first of those queued
 *     meanwhile (store_group_run).  A backend that pipelines (PostgreSQL)
 *     gets the whole group sent at once and its answers replayed to the
 *     operations (run_group, store_impl.h).
 *   - An operation's result is set only after txn_end(commit) returned:
 *     0 if it committed, else every operation of the group gets
 *     STORE_EFAIL.  Nothing is acknowledged that is not durable.
 *   - A statement that fails with STORE_EFAIL inside a group may have
 *     spoilt the transaction (PostgreSQL aborts it): the group is rolled
 *     back and each of its operations is retried alone, so one bad
 *     operation fails only itself.  EEXIST and ENOTFOUND write nothing
 *     and do not spoil the transaction (the backends' statements make
 *     sure: ON CONFLICT DO NOTHING, changed-row counts).
 *
 * What is never grouped: everything else in store.h, in particular the
 * read-modify-write operations that must be alone and atomic (account
 * creation, login reservations, TOTP steps, recovery codes, fresh
 * proofs): they keep their own transactions (store_sql.c; login
 * reservations in the backends).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

struct store_group {
	pthread_mutex_t	 mu;
	struct store_op	*head;		/* queued, not yet taken */
	struct store_op	**tail;
	unsigned int	 leaders;	/* groups being committed */
	struct store_group_stats st;
};

struct store_group *
store_group_new(void)
{
	struct store_group *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return NULL;
	}
	g->tail = &g->head;
	return g;
}

void
store_group_free(struct store_group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* Run ${op}'s statements on ${tx}; its result. */
static int
op_exec(struct store *st, struct store_txn *tx, struct store_op *op)
{
	switch (op->kind) {
	case STORE_OP_KEY_PUT:
		if (op->ev != NULL)
			return store_sql_key_put_audit(st, tx, op->k, op->ev,
			    op->err);
		return store_sql_key_put(st, tx, op->k, op->err);
	case STORE_OP_AUDIT:
		if (op->key_id == NULL)
			return store_sql_audit_add(st, tx, op->ev, op->err);
		/* The count only: a key destroyed meanwhile is no error. */
		return store_sql_audit_release(st, tx, op->ev, op->account,
		    op->key_id, op->err);
	case STORE_OP_KEY_RELEASED:
		return store_sql_key_released(st, tx, op->account,
		    op->key_id, op->err);
	case STORE_OP_TOUCH:
		return store_sql_session_touch(st, tx, op->hash,
		    op->now, op->address, op->err);
	}
	snprintf(op->err, sizeof(op->err), "store: unknown operation");
	return STORE_EFAIL;
}

/*
 * The row an operation locks until its transaction ends, to order the
 * operations of a group: groups committed at once (txn_max > 1) then lock
 * rows in one order and cannot deadlock.  Keys (by id) before sessions
 * (by token hash); inserts lock nothing another group waits for.
 */
static int
op_order(const void *pa, const void *pb)
{
	const struct store_op *a = *(const struct store_op *const *)pa;
	const struct store_op *b = *(const struct store_op *const *)pb;
	int ta = a->key_id != NULL ? 1 : a->hash != NULL ? 2 : 0;
	int tb = b->key_id != NULL ? 1 : b->hash != NULL ? 2 : 0;

	if (ta != tb)
		return ta - tb;
	if (ta == 1)
		return strcmp(a->key_id, b->key_id);
	if (ta == 2)
		return memcmp(a->hash, b->hash, STORE_TOKEN_HASH_LEN);
	return 0;
}

/*
 * Relink the list ${*head} in op_order (left as it is if out of memory:
 * the order only spares a deadlock, which PostgreSQL would break by
 * failing one group, whose operations are then retried alone).
 */
static void
sort_group(struct store_op **head)
{
	struct store_op **v, *op;
	size_t i, n = 0;

	for (op = *head; op != NULL; op = op->next)
		n++;
	if (n < 2 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (i = 0, op = *head; op != NULL; op = op->next)
		v[i++] = op;
	qsort(v, n, sizeof(*v), op_order);
	for (i = 0; i + 1 < n; i++)
		v[i]->next = v[i + 1];
	v[n - 1]->next = NULL;
	*head = v[0];
	free(v);
}

/* Set the result of the operations from ${first} to ${stop}. */
static void
fail_all(struct store_op *first, struct store_op *stop, int r,
    const char *err)
{
	struct store_op *op;

	for (op = first; op != stop; op = op->next) {
		op->r = r;
		memcpy(op->err, err, STORE_ERRLEN);
	}
}

/* Count a committed transaction of ${n} operations into ${gs}. */
static void
count_commit(struct store_group_stats *gs, uint64_t n)
{
	size_t i;

	gs->commits++;
	gs->ops += n;
	for (i = 0; i + 1 < STORE_GROUP_BUCKETS &&
	    n > ((uint64_t)1 << i); i++)
		;
	gs->size[i]++;
}

/*
 * Begin the transaction of the operations from ${first} to ${stop} and
 * run them; if the backend pipelines (store_impl.h), send them all, then
 * wait once and replay them for their results.  0 with *tx, or
 * STORE_EFAIL with ${err} (no transaction).
 */
static int
run_group(struct store *st, struct store_op *first, struct store_op *stop,
    struct store_txn **tx, char err[STORE_ERRLEN])
{
	const struct store_ops *o = st->ops;
	struct store_op *op;
	size_t n = 0;
	int r;

	if (o->pipe_begin == NULL) {
		if ((r = o->txn_begin(st, tx, err)) != 0)
			return r;
		for (op = first; op != stop; op = op->next)
			if ((op->r = op_exec(st, *tx, op)) == STORE_EFAIL)
				break;
		return 0;
	}
	for (op = first; op != stop; op = op->next)
		n++;
	if ((r = o->pipe_begin(st, tx, n, err)) != 0)
		return r;
	for (op = first; op != stop; op = op->next) {
		o->pipe_next(*tx);
		(void)op_exec(st, *tx, op);	/* sent; replayed below */
	}
	/* The COMMIT's result comes again from txn_end. */
	(void)o->pipe_sync(st, *tx, err);
	for (op = first; op != stop; op = op->next) {
		o->pipe_next(*tx);
		op->err[0] = '\0';
		if ((op->r = op_exec(st, *tx, op)) == STORE_EFAIL)
			break;
	}
	return 0;
}

/*
 * Commit the operations from ${first} up to (not including) ${stop} in
 * one transaction, or, if a statement spoils it, each alone.  Every
 * operation's r is final afterwards.  Adds what happened to ${gs}.
 */
static void
commit_group(struct store *st, struct store_op *first, struct store_op *stop,
    struct store_group_stats *gs)
{
	char err[STORE_ERRLEN] = "";
	struct store_txn *tx = NULL;
	struct store_op *op;
	uint64_t n = 0;
	int r;

	if ((r = run_group(st, first, stop, &tx, err)) != 0) {
		fail_all(first, stop, STORE_EFAIL, err);
		gs->failed++;
		return;
	}
	for (op = first; op != stop; op = op->next) {
		n++;
		if (op->r == STORE_EFAIL)
			break;
	}
	if (op != stop) {
		(void)st->ops->txn_end(st, tx, false, NULL);
		gs->failed++;
		if (first->next == stop)
			return;		/* alone: its failure stands */
		gs->split++;
		for (op = first; op != stop; op = op->next)
			commit_group(st, op, op->next, gs);
		return;
	}
	if ((r = st->ops->txn_end(st, tx, true, err)) != 0) {
		fail_all(first, stop, STORE_EFAIL, err);
		gs->failed++;
		return;
	}
	count_commit(gs, n);
}

/*
 * Wait for a post to ${op->wake}; true if ${op} is done and no other post
 * is promised to it (its thread may return at once, without the lock).
 */
static bool
op_sleep(struct store_op *op)
{
	while (sem_wait(op->wake) != 0)
		;	/* EINTR */
	return atomic_fetch_sub(&op->wakes, 1) == 1 && atomic_load(&op->done);
}

int
store_group_run(struct store *st, struct store_op *op)
{
	struct store_group *g = st->group;
	struct store_group_stats gs;
	struct store_op *batch, *o, *next, *heir;
	sem_t wake;
	size_t i;

	op->r = STORE_EFAIL;
	op->err[0] = '\0';
	atomic_init(&op->done, false);
	atomic_init(&op->wakes, 0);
	op->next = NULL;
	op->wake = &wake;
	if (sem_init(&wake, 0, 0) != 0) {
		snprintf(op->err, sizeof(op->err), "store: no semaphore");
		return STORE_EFAIL;
	}
	pthread_mutex_lock(&g->mu);
	*g->tail = op;
	g->tail = &op->next;
	for (;;) {
		if (atomic_load(&op->done) && atomic_load(&op->wakes) == 0)
			break;
		if (atomic_load(&op->done) || g->leaders >= st->ops->txn_max ||
		    g->head == NULL) {
			pthread_mutex_unlock(&g->mu);
			if (op_sleep(op))
				goto out;
			pthread_mutex_lock(&g->mu);
			continue;
		}
		/* Lead: take everything queued, ${op} among it. */
		batch = g->head;
		g->head = NULL;
		g->tail = &g->head;
		g->leaders++;
		pthread_mutex_unlock(&g->mu);
		memset(&gs, 0, sizeof(gs));
		if (st->ops->txn_max > 1)
			sort_group(&batch);
		commit_group(st, batch, NULL, &gs);
		pthread_mutex_lock(&g->mu);
		g->st.commits += gs.commits;
		g->st.ops += gs.ops;
		g->st.failed += gs.failed;
		g->st.split += gs.split;
		for (i = 0; i < STORE_GROUP_BUCKETS; i++)
			g->st.size[i] += gs.size[i];
		/*
		 * Wake only the threads that have something to do: the
		 * owners of this group's operations, and the thread of the
		 * first operation queued meanwhile (the heir), which leads
		 * the next group.  The posts come after the unlock, so a
		 * woken thread does not run into the lock held here; each
		 * is promised (wakes) under the lock, and a thread returns
		 * only once it has taken every post promised to it, so no
		 * post reaches a semaphore that is gone.
		 */
		for (o = batch; o != NULL; o = o->next) {
			if (o != op)
				atomic_fetch_add(&o->wakes, 1);
			atomic_store(&o->done, true);
		}
		g->leaders--;
		heir = g->head;
		if (heir != NULL)
			atomic_fetch_add(&heir->wakes, 1);
		pthread_mutex_unlock(&g->mu);
		for (o = batch; o != NULL; o = next) {
			next = o->next;		/* ${o} may go once posted */
			if (o != op)
				(void)sem_post(o->wake);
		}
		if (heir != NULL)
			(void)sem_post(heir->wake);
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
out:
	sem_destroy(&wake);
	return op->r;
}

void
store_commit_stats(struct store *st, uint64_t *commits, uint64_t *ops)
{
	struct store_group *g = st->group;

	pthread_mutex_lock(&g->mu);
	*commits = g->st.commits;
	*ops = g->st.ops;
	pthread_mutex_unlock(&g->mu);
}

void
store_group_stats(struct store *st, struct store_group_stats *s)
{
	struct store_group *g = st->group;

	pthread_mutex_lock(&g->mu);
	*s = g->st;
	pthread_mutex_unlock(&g->mu);
}
