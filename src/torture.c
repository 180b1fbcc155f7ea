/*
 * Fault injection into smimepub's own code (lib/torture.h): the program is linked with
 * -Wl,--wrap=malloc,... (meson.build, -Dtorture=true only), so that every call the library and
 * the command make to these functions comes here first, and __real_X is libc's (or the
 * sanitizer's) X. Calls made inside other libraries are not redirected; their allocators are
 * hooked in lib/torture.c.
 *
 * A failed stdio write marks the stream as failed, as a real one does (glibc's error flag), so
 * that the program's own ferror checks see it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "torture.h"

#define DECLARE_REAL(ret, name, ...) \
	ret __real_##name(__VA_ARGS__); \
	ret __wrap_##name(__VA_ARGS__)

DECLARE_REAL(void *, malloc, size_t);
DECLARE_REAL(void *, calloc, size_t, size_t);
DECLARE_REAL(void *, realloc, void *, size_t);
DECLARE_REAL(char *, strdup, const char *);
DECLARE_REAL(char *, strndup, const char *, size_t);
DECLARE_REAL(int, vasprintf, char **, const char *, va_list);
DECLARE_REAL(int, asprintf, char **, const char *, ...);
DECLARE_REAL(FILE *, open_memstream, char **, size_t *);
DECLARE_REAL(ssize_t, write, int, const void *, size_t);
DECLARE_REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
DECLARE_REAL(int, fsync, int);
DECLARE_REAL(int, fdatasync, int);
DECLARE_REAL(size_t, fwrite, const void *, size_t, size_t, FILE *);
DECLARE_REAL(int, fflush, FILE *);

static bool no_memory(void)
{
	if (!smp_torture_fails(SMP_TORTURE_ALLOC))
		return false;
	errno = ENOMEM;
	return true;
}

static bool no_space(int e)
{
	if (!smp_torture_fails(SMP_TORTURE_WRITE))
		return false;
	errno = e;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return no_memory() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return no_memory() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return no_memory() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return no_memory() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return no_memory() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return no_memory() ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (no_memory())
		return -1;
	va_start(ap, fmt);
	r = __real_vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

FILE *__wrap_open_memstream(char **buf, size_t *len)
{
	return no_memory() ? NULL : __real_open_memstream(buf, len);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	return no_space(ENOSPC) ? -1 : __real_write(fd, buf, n);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t at)
{
	return no_space(ENOSPC) ? -1 : __real_pwrite(fd, buf, n, at);
}

int __wrap_fsync(int fd)
{
	return no_space(EIO) ? -1 : __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
	return no_space(EIO) ? -1 : __real_fdatasync(fd);
}

static void stream_failed(FILE *fp)
{
#ifdef _IO_ERR_SEEN
	if (fp != NULL)
		fp->_flags |= _IO_ERR_SEEN;
#endif
}

size_t __wrap_fwrite(const void *buf, size_t size, size_t n, FILE *fp)
{
	if (no_space(ENOSPC)) {
		stream_failed(fp);
		return 0;
	}
	return __real_fwrite(buf, size, n, fp);
}

int __wrap_fflush(FILE *fp)
{
	if (fp != NULL && no_space(ENOSPC)) {
		stream_failed(fp);
		return EOF;
	}
	return __real_fflush(fp);
}
