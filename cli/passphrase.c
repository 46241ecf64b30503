/* SPDX-License-Identifier: ISC */
/*
 * passphrase: reading passwords and passphrases from a file or from the
 * terminal without echo.  Buffers are the caller's guarded memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

int
secret_from_file(const char *path, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "coffer %s: cannot open '%s': %s\n", g_cmd,
		    path, strerror(errno));
		return -1;
	}
	while (n < cap && (got = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)got;
	close(fd);
	if (n == cap) {
		fprintf(stderr, "coffer %s: '%s' is too long for a password\n",
		    g_cmd, path);
		return -1;
	}
	/* One trailing newline is not part of it. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return (int)n;
}

/* The terminal while its echo is off, for the interrupt handler. */
volatile sig_atomic_t	g_tty_quiet_fd = -1;
struct termios		g_tty_saved;

int
secret_from_tty(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	size_t n = 0;
	char c;
	int fd;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	g_tty_saved = old;
	g_tty_quiet_fd = fd;
	/*
	 * Echo off first, then the prompt: TCSAFLUSH drops what was typed
	 * before the prompt showed, never what is typed after it.
	 */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0 ||
	    write(fd, prompt, strlen(prompt)) < 0 || write(fd, ": ", 2) < 0) {
		(void)tcsetattr(fd, TCSAFLUSH, &old);
		g_tty_quiet_fd = -1;
		close(fd);
		return -1;
	}
	while (read(fd, &c, 1) == 1 && c != '\n' && c != '\r') {
		if (n + 1 < cap)
			buf[n++] = c;
	}
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	g_tty_quiet_fd = -1;
	if (write(fd, "\n", 1) < 0) {
		/* the newline is cosmetic */
	}
	close(fd);
	c = 0;
	return (int)n;
}

int
cli_get_password(void *cookie, const char *prompt, char *buf, size_t cap)
{
	const char *f = getenv("COFFER_PASSWORD_FILE");

	(void)cookie;
	if (f != NULL && *f != '\0')
		return secret_from_file(f, buf, cap);
	return secret_from_tty(prompt, buf, cap);
}

int
ask_new_secret(const char *what, const char *envfile, const char *file,
    char *buf, size_t cap)
{
	struct coffer_err err = { 0 };
	char p1[128], p2[128];
	char *again;
	int n = -1, m = -1;

	if (file == NULL && envfile != NULL)
		file = getenv(envfile);
	if (file != NULL && *file != '\0')
		return secret_from_file(file, buf, cap);
	if ((again = coffer_secret_alloc(cap)) == NULL)
		return -1;
	snprintf(p1, sizeof(p1), "new %s", what);
	snprintf(p2, sizeof(p2), "new %s again", what);
	/*
	 * A weak one is refused at once, with the reason, and asked again
	 * (three tries): the library would refuse it anyway, but only after
	 * the second entry.  Empty input ends it (the caller says so).
	 */
	for (int tries = 0; tries < 3; tries++) {
		if ((n = secret_from_tty(p1, buf, cap)) <= 0)
			break;
		if (coffer_password_check(what, buf, (size_t)n, NULL,
		    &err) == 0)
			break;
		fprintf(stderr, "coffer %s: %s\n", g_cmd, err.msg);
		n = -2;
	}
	if (n == -2) {
		fprintf(stderr, "coffer %s: no strong %s given; nothing "
		    "changed\n", g_cmd, what);
		n = -1;
		goto out;
	}
	m = n < 0 ? -1 : secret_from_tty(p2, again, cap);
	if (n < 0 || m < 0) {
		fprintf(stderr, "coffer %s: no terminal to ask for the %s "
		    "(use %s)\n", g_cmd, what, envfile ? envfile :
		    "--passphrase-file");
		n = -1;
	} else if (n != m || memcmp(buf, again, (size_t)n) != 0) {
		fprintf(stderr, "coffer %s: the two entries differ; nothing "
		    "changed\n", g_cmd);
		n = -1;
	}
out:
	coffer_secret_free(again);
	return n;
}

/*
 * The account password for the escrow server's fresh proof: from
 * COFFER_ESCROW_PASSWORD_FILE, else asked on the terminal, at most once
 * per run (a file may be read again: nobody is asked).
 */
int
cli_get_escrow_password(void *cookie, const char *prompt, char *buf,
    size_t cap)
{
	static int state;	/* 0: not asked; 1: asked; 2: no terminal */
	const char *f = getenv("COFFER_ESCROW_PASSWORD_FILE");
	int n;

	(void)cookie;
	if (f != NULL && *f != '\0')
		return secret_from_file(f, buf, cap);
	if (state == 1) {
		fprintf(stderr, "coffer %s: the escrow server asks for the "
		    "account password again; not asking twice in one run\n",
		    g_cmd);
		state = 2;
	}
	if (state != 0)
		return -1;
	n = secret_from_tty(prompt, buf, cap);
	state = n < 0 ? 2 : 1;
	return n;
}

/*
 * The one-time code (TOTP or a recovery code): COFFER_ESCROW_CODE, else
 * asked on the terminal, at most once per run.
 */
int
cli_get_escrow_code(void *cookie, const char *prompt, char *buf, size_t cap)
{
	static bool asked;	/* or there was no terminal */
	const char *v = getenv("COFFER_ESCROW_CODE");
	size_t n;

	(void)cookie;
	if (v != NULL && *v != '\0') {
		if ((n = strlen(v)) >= cap) {
			fprintf(stderr, "coffer %s: COFFER_ESCROW_CODE is too "
			    "long for a code\n", g_cmd);
			return -1;
		}
		memcpy(buf, v, n);
		return (int)n;
	}
	if (asked)
		return -1;
	asked = true;
	return secret_from_tty(prompt, buf, cap);
}

int
line_from_tty(const char *prompt, char *buf, size_t cap)
{
	size_t n = 0;
	char c;
	int fd;

	if (cap == 0 || (fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		close(fd);
		return -1;
	}
	while (read(fd, &c, 1) == 1 && c != '\n' && c != '\r') {
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	close(fd);
	return (int)n;
}
