/* smimepub command line: the password (-y, -W, SMIMEPUB_PASSWORD) and the connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "advice.h"
#include "cli.h"

#define PASSWORD_MAX 4096

static void password_free(char *pw)
{
	if (pw == NULL)
		return;
	explicit_bzero(pw, strlen(pw));
	free(pw);
}

/* Reads the password file: its contents without ONE trailing newline. */
static int password_from_file(char **out, const char *path, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	FILE *fp = NULL;
	char *buf = NULL;
	size_t len;

	*out = NULL;
	fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (fp == NULL) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read password file '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	buf = calloc(1, PASSWORD_MAX + 2);
	if (buf == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	len = fread(buf, 1, PASSWORD_MAX + 1, fp);
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read password file '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	if (len > PASSWORD_MAX) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "password file '%s' is too large", path);
		goto out;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (strlen(buf) != len) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "password file '%s' holds a NUL byte", path);
		goto out;
	}
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (fp != NULL && fp != stdin)
		fclose(fp);
	password_free(buf);
	return r;
}

/* Prompts on the terminal with echo off, like ldapsearch -W. */
static int password_from_tty(char **out, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	FILE *tty = NULL;
	struct termios old, quiet;
	int restore = 0;
	char *buf = NULL;
	size_t len;

	*out = NULL;
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "cannot prompt for the password (-W): no terminal");
		goto out;
	}
	buf = calloc(1, PASSWORD_MAX + 2);
	if (buf == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	fputs("Enter LDAP Password: ", tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0)
			restore = 1;
	}
	if (fgets(buf, PASSWORD_MAX + 2, tty) == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "cannot read the password from the terminal");
		goto out;
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	if (tty != NULL) {
		fputc('\n', tty);
		fclose(tty);
	}
	password_free(buf);
	return r;
}

int cli_connect(smp_dir **out, const struct cli_opts *o, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_conn_options conn = o->conn;
	char *pw = NULL;
	const char *env;
	smp_dir *d = NULL;

	*out = NULL;
	if (o->password_file != NULL && o->prompt_password) {
		r = smp_error_set(err, SMP_ERR_USAGE, "-y and -W cannot be used together");
		goto out;
	}
	if (o->password_file != NULL) {
		r = password_from_file(&pw, o->password_file, err);
		if (r < 0)
			goto out;
	} else if (o->prompt_password) {
		r = password_from_tty(&pw, err);
		if (r < 0)
			goto out;
	} else if ((env = getenv("SMIMEPUB_PASSWORD")) != NULL && *env != '\0') {
		pw = strdup(env);
		if (pw == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	conn.password = pw;
	if (o->verbose > conn.verbose)
		conn.verbose = o->verbose;
	r = smp_dir_open(&d, &conn, err);
	if (r < 0)
		goto out;
	if (smp_dir_warning(d) != NULL)
		cli_warn(o, "%s%s", smp_dir_warning(d), cli_hint(smp_dir_warning_hint(d)));
	*out = d;
	r = 0;
out:
	password_free(pw);
	return r;
}
