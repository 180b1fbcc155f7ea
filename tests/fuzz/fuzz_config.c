/*
 * Fuzz target: the configuration file (src/config.c, cli_config_read): the bytes as a file's
 * lines. Every argument it makes must be a long option ("--key" or "--key=value") whose key
 * starts one of the input's lines (after leading blanks): never a piece of a line, never two
 * lines run together.
 *
 * src/config.c is compiled in here, since the command's sources are not a library the fuzz
 * targets link; it reports errors through cli_error, which this file supplies (quietly) in
 * place of the command's.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void cli_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

/* Whether some line of data[0..size) starts, after blanks, with key[0..klen). */
static int starts_a_line(const uint8_t *data, size_t size, const char *key, size_t klen)
{
	size_t at = 0;

	while (at < size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		size_t i = at;

		while (i < end && isspace(data[i]))
			i++;
		if (end - i >= klen && memcmp(data + i, key, klen) == 0)
			return 1;
		at = end + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **argv = NULL;
	int argc = 0;
	FILE *fp;

	if (size == 0)
		return 0;
	fp = fmemopen((void *)data, size, "r");
	if (fp == NULL)
		return 0;
	(void)cli_config_read(fp, "fuzz", &argv, &argc);
	fclose(fp);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t klen;

		if (a == NULL || strncmp(a, "--", 2) != 0)
			abort();
		klen = strcspn(a + 2, "=");
		if (klen == 0 || memchr(a, '\n', strlen(a)) != NULL || memchr(a + 2, ' ', klen) != NULL ||
		    !starts_a_line(data, size, a + 2, klen))
			abort();
	}
	if (argv != NULL && argv[argc] != NULL)
		abort();
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return 0;
}
