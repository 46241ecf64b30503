/* SPDX-License-Identifier: ISC */
/*
 * err: the error value every libcoffer function fills in.
 *
 * libcoffer never prints and never exits: a failing function returns a
 * negative COFFER_E* code and writes a one-line detail into a caller-owned
 * struct coffer_err.  The CLI and the server report it once, at the top.
 */
#ifndef COFFER_ERR_H_
#define COFFER_ERR_H_

enum coffer_errcode {
	COFFER_OK		=  0,
	COFFER_ENOMEM		= -1,	/* allocation failed */
	COFFER_EIO		= -2,	/* system call failed; see sys_errno */
	COFFER_EFORMAT		= -3,	/* input is not in the expected format */
	COFFER_EAUTH		= -4,	/* MAC did not verify: wrong key or tampering */
	COFFER_EPERM		= -5,	/* permissions too open, or not allowed */
	COFFER_ENOTFOUND	= -6,	/* object, snapshot or key does not exist */
	COFFER_ENET		= -7,	/* transport or HTTP failure (escrow) */
	COFFER_EINVAL		= -8,	/* bad argument */
	COFFER_ELOCKED		= -9,	/* repository locked by another process */
	COFFER_EEXIST		= -10,	/* target exists */
	COFFER_ENOKEY		= -11,	/* the key for this data is not here */
	COFFER_ELOGIN		= -12,	/* escrow: not logged in, or session over */
	COFFER_EDESTROYED	= -13,	/* escrow: the key was destroyed */
	COFFER_EINTR		= -14,	/* stopped on request (ctx->stop) */
};

#define COFFER_ERR_MSG_LEN	512

struct coffer_err {
	int	code;		/* last COFFER_E* code set */
	int	sys_errno;	/* errno captured by coffer_err_sys(), else 0 */
	char	msg[COFFER_ERR_MSG_LEN];	/* "what failed: detail" */
};

/*
 * coffer_err_set(err, code, fmt, ...):
 * Record ${code} and a formatted message in ${err} (may be NULL).
 * Return ${code}.
 */
int coffer_err_set(struct coffer_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * coffer_err_sys(err, fmt, ...):
 * As coffer_err_set(err, COFFER_EIO, ...) with ": strerror(errno)" added
 * and errno kept in ${err}->sys_errno.  ENOENT maps to COFFER_ENOTFOUND,
 * EEXIST to COFFER_EEXIST, EACCES/EPERM to COFFER_EPERM.
 */
int coffer_err_sys(struct coffer_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * coffer_err_prefix(err, fmt, ...):
 * Prepend "<formatted>: " to ${err}->msg, keeping the code.  Return the
 * code.  Used to add context ("file 'x'") as an error travels up.
 */
int coffer_err_prefix(struct coffer_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* coffer_strerror(code): a short static text for ${code}. */
const char *coffer_strerror(int code);

#endif /* !COFFER_ERR_H_ */
