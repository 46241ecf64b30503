/* SPDX-License-Identifier: ISC */
/* err: fill in struct coffer_err; never prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coffer/err.h"

int
coffer_err_set(struct coffer_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	err->sys_errno = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
coffer_err_sys(struct coffer_err *err, const char *fmt, ...)
{
	int saved = errno;
	int code = COFFER_EIO;
	size_t n;
	va_list ap;

	if (saved == ENOENT)
		code = COFFER_ENOTFOUND;
	else if (saved == EEXIST)
		code = COFFER_EEXIST;
	else if (saved == EACCES || saved == EPERM)
		code = COFFER_EPERM;
	else if (saved == ENOMEM)
		code = COFFER_ENOMEM;
	if (err == NULL) {
		errno = saved;
		return code;
	}
	err->code = code;
	err->sys_errno = saved;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		    strerror(saved));
	errno = saved;
	return code;
}

int
coffer_err_prefix(struct coffer_err *err, const char *fmt, ...)
{
	char head[COFFER_ERR_MSG_LEN];
	char tail[COFFER_ERR_MSG_LEN];
	va_list ap;

	if (err == NULL)
		return COFFER_EINVAL;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(tail, err->msg, sizeof(tail));
	/* Long messages are cut at the end: the head says what failed. */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", head, tail) < 0)
		err->msg[0] = '\0';
	return err->code;
}

const char *
coffer_strerror(int code)
{
	switch (code) {
	case COFFER_OK:		return "success";
	case COFFER_ENOMEM:	return "out of memory";
	case COFFER_EIO:	return "I/O error";
	case COFFER_EFORMAT:	return "damaged or unknown data";
	case COFFER_EAUTH:	return "authentication failed";
	case COFFER_EPERM:	return "permission problem";
	case COFFER_ENOTFOUND:	return "not found";
	case COFFER_ENET:	return "network error";
	case COFFER_EINVAL:	return "invalid argument";
	case COFFER_ELOCKED:	return "repository locked";
	case COFFER_EEXIST:	return "already exists";
	case COFFER_ENOKEY:	return "key not available";
	case COFFER_ELOGIN:	return "not logged in to the escrow server";
	case COFFER_EDESTROYED:	return "key destroyed";
	case COFFER_EINTR:	return "interrupted";
	default:		return "unknown error";
	}
}
