/* smimepub command line: collecting input file names. */
#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int push(struct cli_inputs *in, const char *path)
{
	char **grown = realloc(in->paths, sizeof(*grown) * (in->n + 1));

	if (grown == NULL)
		return SMP_ERR_NOMEM;
	in->paths = grown;
	if ((in->paths[in->n] = strdup(path)) == NULL)
		return SMP_ERR_NOMEM;
	in->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* File name endings a directory argument takes; explicit file arguments are always read. */
static const char *const input_suffixes[] = {
	".pem", ".cer", ".crt", ".der", ".p7b", ".p7c", ".b64", ".eml", ".p7s", ".p7m",
	".mbox", NULL,
};

static int wanted_in_dir(const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; input_suffixes[i] != NULL; i++) {
		size_t sl = strlen(input_suffixes[i]);
		if (len > sl && strcasecmp(name + len - sl, input_suffixes[i]) == 0)
			return 1;
	}
	return 0;
}

static int is_maildir(const char *path)
{
	char sub[4096];
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/cur", path);
	if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	snprintf(sub, sizeof(sub), "%s/new", path);
	return stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
}

static int push_dir(struct cli_inputs *in, const char *path)
{
	DIR *dir;
	struct dirent *de;
	size_t first = in->n;
	char child[4096];
	struct stat st;
	int r = 0;

	if ((dir = opendir(path)) == NULL)
		return push(in, path); /* reported by the reader */
	while ((de = readdir(dir)) != NULL && r == 0) {
		if (de->d_name[0] == '.' || !wanted_in_dir(de->d_name))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		/* the type readdir gives saves a stat per file; links and unknowns are followed */
		if (de->d_type == DT_REG ||
		    ((de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) && stat(child, &st) == 0 &&
		     S_ISREG(st.st_mode)))
			r = push(in, child);
	}
	closedir(dir);
	if (in->n > first)
		qsort(in->paths + first, in->n - first, sizeof(*in->paths), cmp_str);
	return r;
}

int cli_inputs_collect(struct cli_inputs *in, const struct cli_opts *o, int expand_dirs,
		       smp_error *err)
{
	struct stat st;
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = 0;

	memset(in, 0, sizeof(*in));
	for (int i = 0; i < o->nargs && r == 0; i++) {
		const char *p = o->args[i];
		if (expand_dirs && stat(p, &st) == 0 && S_ISDIR(st.st_mode) && !is_maildir(p))
			r = push_dir(in, p);
		else
			r = push(in, p);
	}
	if (r != 0 || o->files_from == NULL)
		return r ? smp_error_set(err, r, "out of memory") : 0;
	if (strcmp(o->files_from, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(o->files_from, "r")) == NULL)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot read '%s': %s", o->files_from,
				     strerror(errno));
	while (r == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		r = push(in, line);
	}
	free(line);
	if (fp != stdin)
		fclose(fp);
	return r ? smp_error_set(err, r, "out of memory") : 0;
}

void cli_inputs_release(struct cli_inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->paths[i]);
	free(in->paths);
	memset(in, 0, sizeof(*in));
}
