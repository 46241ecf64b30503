/* SPDX-License-Identifier: ISC */
/*
 * srv_log: cofferd's one line per event on stderr ("cofferd: LEVEL: ...";
 * systemd's journal adds the time).  Messages never contain secrets:
 * no passwords, tokens, keys or request bodies.
 */
#ifndef COFFERD_SRV_LOG_H_
#define COFFERD_SRV_LOG_H_

#include <stdbool.h>

void srv_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* srv_log_quiet(on): only "error" lines (the fuzz target sets it). */
void srv_log_quiet(bool on);

#define log_info(...)	srv_log("info", __VA_ARGS__)
#define log_warn(...)	srv_log("warning", __VA_ARGS__)
#define log_error(...)	srv_log("error", __VA_ARGS__)

#endif /* !COFFERD_SRV_LOG_H_ */
