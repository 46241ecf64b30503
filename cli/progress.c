/* SPDX-License-Identifier: ISC */
/*
 * progress: the live line on a terminal.  Drawn on stderr only when it
 * is a terminal and neither --quiet nor --json was given; redrawn at most
 * five times a second; kept to the terminal's width; cleared at the end
 * and before any warning.  With --json-progress, JSON lines on stderr
 * instead, for scripts: at most two a second, and a last one with
 * "done": true.
 */
#include <sys/ioctl.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static struct timespec	start, last;
static volatile sig_atomic_t shown;
bool			g_progress_json;
/* What the interrupt handler writes: composed before it is installed. */
static char		intr_msg[512];
static size_t		intr_len;
/* Asked to stop (interrupt_setup_stop): the signal, else 0. */
volatile sig_atomic_t	g_stop;
static bool		stop_int, stop_term;	/* handlers installed */

static double
since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void
progress_clear(void)
{
	if (shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		shown = false;
	}
}

static const char *
clock_str(double s, char buf[48])
{
	unsigned long t = s < 0 ? 0 : (unsigned long)s;

	if (t >= 3600)
		snprintf(buf, 48, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60,
		    t % 60);
	else
		snprintf(buf, 48, "%lu:%02lu", t / 60, t % 60);
	return buf;
}

static void
draw(const struct coffer_progress *p, double el)
{
	char line[1024], a[32], b[32], r[32], t1[48], t2[48];
	struct winsize ws;
	size_t width = 80, n;
	double rate = el > 0.1 ? (double)p->bytes / el : 0;
	int k;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col;
	if (width > sizeof(line) - 1)
		width = sizeof(line) - 1;
	k = snprintf(line, sizeof(line), "[%s] %s", clock_str(el, t1),
	    p->phase);
	/* check counts bytes only; the others files too, from 0 on. */
	if (p->files > 0 || p->files_total > 0 ||
	    strcmp(p->phase, "check") != 0) {
		k += snprintf(line + k, sizeof(line) - (size_t)k, " %llu",
		    (unsigned long long)p->files);
		if (p->files_total > 0)
			k += snprintf(line + k, sizeof(line) - (size_t)k,
			    "/%llu", (unsigned long long)p->files_total);
		k += snprintf(line + k, sizeof(line) - (size_t)k, " files,");
	}
	k += snprintf(line + k, sizeof(line) - (size_t)k, " %s",
	    human_size(p->bytes, a));
	if (p->bytes_total > 0)
		k += snprintf(line + k, sizeof(line) - (size_t)k, " of %s",
		    human_size(p->bytes_total, b));
	k += snprintf(line + k, sizeof(line) - (size_t)k, ", %s/s",
	    human_size((unsigned long long)rate, r));
	if (p->bytes_total > p->bytes && rate > 0)
		k += snprintf(line + k, sizeof(line) - (size_t)k, ", ETA %s",
		    clock_str((double)(p->bytes_total - p->bytes) / rate, t2));
	if (p->current != NULL && (size_t)k + 4 < width) {
		/* The end of the path says most: cut its start. */
		const char *c = p->current;
		size_t room = width - (size_t)k - 3, len = strlen(c);

		if (len > room)
			c += len - room;
		k += snprintf(line + k, sizeof(line) - (size_t)k, "  %s", c);
	}
	n = (size_t)k < width - 1 ? (size_t)k : width - 1;
	/* No control bytes from file names on the terminal. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	fprintf(stderr, "\r%.*s\033[K", (int)n, line);
	fflush(stderr);
	shown = true;
}

/* One JSON line (docs/CLI.md, "Progress as JSON lines"). */
static void
json_line(const struct coffer_progress *p, double el)
{
	json_t *o;
	char *text;

	o = json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:b}", "type",
	    "progress", "phase", p->phase, "elapsed", el,
	    "files", (json_int_t)p->files, "files_total",
	    (json_int_t)p->files_total, "bytes", (json_int_t)p->bytes,
	    "bytes_total", (json_int_t)p->bytes_total, "done", p->done);
	if (o == NULL)
		return;
	json_object_set_new(o, "current", p->current != NULL && !p->done ?
	    json_bytes(p->current, strlen(p->current)) : json_null());
	if ((text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII)) != NULL) {
		fprintf(stderr, "%s\n", text);
		fflush(stderr);
		free(text);
	}
	json_decref(o);
}

void
cli_progress(void *cookie, const struct coffer_progress *p)
{
	struct timespec now;

	(void)cookie;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (g_progress_json) {
		bool first = start.tv_sec == 0 && start.tv_nsec == 0;

		if (first)
			start = last = now;
		if (first || p->done || since(&last, &now) >= 0.5) {
			last = now;
			json_line(p, since(&start, &now));
		}
		return;
	}
	if (start.tv_sec == 0 && start.tv_nsec == 0) {
		start = now;
		last = now;
		draw(p, 0);
		return;
	}
	if (p->done) {
		progress_clear();
		return;
	}
	if (g_stop != 0)
		return;		/* stopping: the line was cleared */
	if (since(&last, &now) < 0.2)
		return;
	last = now;
	draw(p, since(&start, &now));
}

bool
progress_wanted(bool json)
{
	if (g_progress_json)
		return true;
	return !json && !g_opts.quiet && isatty(STDERR_FILENO);
}

/*
 * on_interrupt(sig): end the progress line, say what the interruption
 * left, and die of ${sig} as if not caught (the shell sees 130 for
 * Ctrl-C).  Only async-signal-safe calls.
 */
static void
on_interrupt(int sig)
{
	struct sigaction sa;

	/* Interrupted at a password prompt: the echo back on. */
	if (g_tty_quiet_fd != -1)
		(void)tcsetattr(g_tty_quiet_fd, TCSAFLUSH, &g_tty_saved);
	if (shown)
		(void)!write(STDERR_FILENO, "\n", 1);
	(void)!write(STDERR_FILENO, intr_msg, intr_len);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, NULL);
	(void)raise(sig);
}

void
interrupt_setup(const char *left)
{
	struct sigaction sa, old;
	int n;

	n = snprintf(intr_msg, sizeof(intr_msg), "coffer %s: interrupted%s%s\n",
	    g_cmd, left != NULL ? ": " : "", left != NULL ? left : "");
	intr_len = n < 0 ? 0 : (size_t)n < sizeof(intr_msg) ? (size_t)n :
	    sizeof(intr_msg) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	/* A SIGINT ignored by our parent (a background job) stays ignored. */
	if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
		(void)sigaction(SIGINT, &sa, NULL);
	if (sigaction(SIGTERM, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
		(void)sigaction(SIGTERM, &sa, NULL);
}

/*
 * on_stop(sig): the first SIGINT or SIGTERM of a backup: ask it to stop
 * (it checks g_stop), and let a second one end the process at once.
 * Only async-signal-safe calls.
 */
static char stop_msg[160];	/* "coffer CMD: stopping: ...", made before */
static size_t stop_len;

static void
on_stop(int sig)
{
	struct sigaction sa;

	/* At a password prompt nothing is written yet: end now. */
	if (g_tty_quiet_fd != -1 || g_stop != 0) {
		on_interrupt(sig);
		return;
	}
	g_stop = sig;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (stop_int)
		(void)sigaction(SIGINT, &sa, NULL);
	if (stop_term)
		(void)sigaction(SIGTERM, &sa, NULL);
	if (shown)
		(void)!write(STDERR_FILENO, "\n", 1);	/* the line ends */
	shown = false;
	(void)!write(STDERR_FILENO, stop_msg, stop_len);
}

void
interrupt_setup_stop(const char *left)
{
	struct sigaction sa, old;
	int n;

	interrupt_setup(left);
	/* The command's own name (backup, copy): the handler only writes. */
	n = snprintf(stop_msg, sizeof(stop_msg), "coffer %s: stopping: "
	    "finishing the pack being written (Ctrl-C again quits at once)\n",
	    g_cmd);
	stop_len = n > 0 && (size_t)n < sizeof(stop_msg) ? (size_t)n : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	stop_int = sigaction(SIGINT, NULL, &old) == 0 &&
	    old.sa_handler != SIG_IGN && sigaction(SIGINT, &sa, NULL) == 0;
	stop_term = sigaction(SIGTERM, NULL, &old) == 0 &&
	    old.sa_handler != SIG_IGN && sigaction(SIGTERM, &sa, NULL) == 0;
}
