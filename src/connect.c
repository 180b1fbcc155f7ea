/* smimepub command line: the password (-y, -W, SMIMEPUB_PASSWORD) and the connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "smimepub/secret.h"

#include "advice.h"
#include "cli.h"

#define PASSWORD_MAX 4096

/*
 * Every copy of the password lives in smp_secret_alloc memory (not dumped, not swapped,
 * zeroes in a forked worker) and is read with read(2), not stdio, whose buffers would keep
 * another copy in the heap.
 */

/* Reads up to PASSWORD_MAX + 1 bytes of fd into buf (PASSWORD_MAX + 2 bytes); -1 on error. */
static ssize_t read_all(int fd, char *buf, int one_line)
{
	size_t len = 0;

	while (len < PASSWORD_MAX + 1) {
		ssize_t k = read(fd, buf + len, PASSWORD_MAX + 1 - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		len += (size_t)k;
		if (one_line && buf[len - 1] == '\n')
			break;
	}
	return (ssize_t)len;
}

enum pwfile_verdict { PWFILE_OK, PWFILE_OPEN, PWFILE_NOT_A_FILE };

/*
 * Whether the password file open as fd may be used. A regular file must not be
 * open to group or others when it is the caller's own (OpenSSH's rule for private keys,
 * sshkey_perm_ok) and never to others whoever owns it: a file root keeps for a service's
 * group (root:smimepub 0640) is fine, a mode that lets every local user read it is not. A
 * pipe is fine (-y <(pass ldap), -y - from another program): nothing is left on disk. Any
 * other kind (a directory, a device, a socket) is not a password file. Standard input ('-')
 * may also be a terminal.
 */
static enum pwfile_verdict password_file_check(int fd, int is_stdin, int allow_open,
					       unsigned *mode)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return PWFILE_OK;  /* read() will say what is wrong */
	*mode = (unsigned)(st.st_mode & 07777);
	if (S_ISREG(st.st_mode)) {
		if (!allow_open && ((st.st_mode & 007) != 0 ||
				    ((st.st_mode & 077) != 0 && st.st_uid == getuid())))
			return PWFILE_OPEN;
		return PWFILE_OK;
	}
	if (S_ISFIFO(st.st_mode) || (is_stdin && S_ISCHR(st.st_mode)))
		return PWFILE_OK;
	return PWFILE_NOT_A_FILE;
}

/* Reads the password file: its contents without ONE trailing newline. */
static int password_from_file(char **out, const char *path, int allow_open, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	int is_stdin = strcmp(path, "-") == 0;
	int fd = -1;
	char *buf = NULL;
	enum pwfile_verdict verdict;
	unsigned mode = 0;
	ssize_t got;
	size_t len;

	*out = NULL;
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read password file '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	verdict = password_file_check(fd, is_stdin, allow_open, &mode);
	if (verdict == PWFILE_OPEN) {
		r = smp_error_set(err, SMP_ERR_USAGE, "password file '%s' is accessible by others "
				  "(mode %04o): make it readable by its owner only (chmod 600), or "
				  "give --allow-open-password-file", path, mode);
		goto out;
	}
	if (verdict == PWFILE_NOT_A_FILE) {
		r = smp_error_set(err, SMP_ERR_USAGE, "password file '%s' is not a regular file or "
				  "a pipe", path);
		goto out;
	}
	if ((buf = smp_secret_alloc(PASSWORD_MAX + 2)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((got = read_all(fd, buf, 0)) < 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read password file '%s': %s", path,
				  strerror(errno));
		goto out;
	}
	len = (size_t)got;
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
	if (fd >= 0 && !is_stdin)
		close(fd);
	smp_secret_free(buf);
	return r;
}

/* Prompts on the terminal with echo off, like ldapsearch -W. */
static int password_from_tty(char **out, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	int fd = -1;
	struct termios old, quiet;
	int restore = 0;
	char *buf = NULL;
	static const char prompt[] = "Enter LDAP Password: ";
	ssize_t got;
	size_t len;

	*out = NULL;
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = smp_error_set(err, SMP_ERR_USAGE, "cannot prompt for the password (-W): no terminal");
		goto out;
	}
	if ((buf = smp_secret_alloc(PASSWORD_MAX + 2)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (write(fd, prompt, sizeof(prompt) - 1) < 0) {
		r = smp_error_set(err, SMP_ERR_USAGE, "cannot prompt for the password (-W): %s",
				  strerror(errno));
		goto out;
	}
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
			restore = 1;
	}
	/* canonical mode: read returns at the end of the line */
	if ((got = read_all(fd, buf, 1)) <= 0) {
		r = smp_error_set(err, SMP_ERR_USAGE, "cannot read the password from the terminal");
		goto out;
	}
	len = (size_t)got;
	if (len > PASSWORD_MAX) {
		r = smp_error_set(err, SMP_ERR_USAGE, "the password is too long");
		goto out;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (strlen(buf) != len) {
		r = smp_error_set(err, SMP_ERR_USAGE, "the password holds a NUL byte");
		goto out;
	}
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (fd >= 0) {
		(void)write(fd, "\n", 1);
		close(fd);
	}
	smp_secret_free(buf);
	return r;
}

/*
 * SMIMEPUB_PASSWORD, copied into secret memory; the variable's bytes are then cleared and the
 * variable removed, so neither a forked worker, /proc/PID/environ nor a program run later
 * sees it.
 */
static int password_from_env(char **out, const char *name, smp_error *err)
{
	char *env = getenv(name);

	*out = NULL;
	if (env == NULL || *env == '\0')
		return 0;
	if ((*out = smp_secret_strdup(env)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	explicit_bzero(env, strlen(env));
	unsetenv(name);
	return 0;
}

int cli_secret(char **out, const char *path, const char *env, int allow_open, smp_error *err)
{
	if (path != NULL)
		return password_from_file(out, path, allow_open, err);
	return password_from_env(out, env, err);
}

int cli_connect(smp_dir **out, const struct cli_opts *o, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_conn_options conn = o->conn;
	char *pw = NULL;
	smp_dir *d = NULL;

	*out = NULL;
	if (o->password_file != NULL && o->prompt_password) {
		r = smp_error_set(err, SMP_ERR_USAGE, "-y and -W cannot be used together");
		goto out;
	}
	if (o->password_file != NULL) {
		r = password_from_file(&pw, o->password_file, o->allow_open_password_file, err);
		if (r < 0)
			goto out;
	} else if (o->prompt_password) {
		r = password_from_tty(&pw, err);
		if (r < 0)
			goto out;
	} else if ((r = password_from_env(&pw, "SMIMEPUB_PASSWORD", err)) < 0) {
		goto out;
	}
	conn.password = pw;
	if (o->verbose > conn.verbose)
		conn.verbose = o->verbose;
	r = smp_dir_open(&d, &conn, err);
	if (r < 0)
		goto out;
	/* a command that never reconnects needs the password no longer than the bind */
	if (!o->reconnects)
		smp_dir_forget_password(d);
	if (smp_dir_warning(d) != NULL)
		cli_warn(o, "%s%s", smp_dir_warning(d), cli_hint(smp_dir_warning_hint(d)));
	*out = d;
	r = 0;
out:
	smp_secret_free(pw);
	return r;
}
