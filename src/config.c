/*
 * smimepub command line: the configuration file's lines as long options (config.h), apart
 * from options.c so that tests/fuzz/fuzz_config.c reads configuration bytes without the
 * whole command.
 */
#include "config.h"

#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_config_read(FILE *fp, const char *path, char ***argv, int *argc)
{
	char *line = NULL, *arg = NULL;
	size_t cap = 0;
	int lineno = 0, r = -1;

	/*
	 * getline, not a fixed buffer: a line cut at the buffer's end would go on as a line of
	 * its own, so the tail of a long commented-out line would be read as an option
	 */
	while (getline(&line, &cap, fp) != -1) {
		char *key = line, *value, *end;
		char **grown;

		lineno++;
		while (isspace((unsigned char)*key))
			key++;
		if (*key == '#' || *key == ';' || *key == '\0')
			continue;
		end = key + strlen(key);
		while (end > key && isspace((unsigned char)end[-1]))
			*--end = '\0';
		value = strchr(key, '=');
		if (value != NULL) {
			char *kend = value;
			*value++ = '\0';
			while (kend > key && isspace((unsigned char)kend[-1]))
				*--kend = '\0';
			while (isspace((unsigned char)*value))
				value++;
		}
		if (*key == '\0' || strchr(key, ' ') != NULL) {
			cli_error("%s:%d: expected 'option = value'", path, lineno);
			goto out;
		}
		if (value != NULL && *value != '\0' &&
		    (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0))
			value = NULL;
		if (asprintf(&arg, value != NULL && *value != '\0' ? "--%s=%s" : "--%s", key,
			     value != NULL ? value : "") < 0) {
			arg = NULL;
			cli_error("%s:%d: out of memory", path, lineno);
			goto out;
		}
		grown = realloc(*argv, sizeof(**argv) * (size_t)(*argc + 2));
		if (grown == NULL) {
			cli_error("%s:%d: out of memory", path, lineno);
			goto out;
		}
		*argv = grown;
		(*argv)[(*argc)++] = arg;
		(*argv)[*argc] = NULL;
		arg = NULL;
	}
	r = 0;
out:
	free(arg);
	free(line);
	return r;
}
