/* smimepub command line: the configuration file's lines as long options. */
#ifndef SMIMEPUB_CONFIG_H
#define SMIMEPUB_CONFIG_H

#include <stdio.h>

/*
 * Reads configuration lines from fp ("key = value", "key" alone or "key = true|yes" for a
 * flag; '#' or ';' starts a comment line; blank lines skipped; a line may be of any length)
 * and appends one "--key=value" or "--key" argument per option to the NULL-terminated array
 * *argv of *argc arguments (malloc'd, grown here; NULL and 0 at first). path names the file
 * in messages. Returns 0, or -1 after printing the error (cli_error) for a line that is not
 * an option or when out of memory; what was appended before stays in *argv.
 */
int cli_config_read(FILE *fp, const char *path, char ***argv, int *argc);

#endif
