/* serve's page: its files, built into the program (src/web/embed.py writes the table). */
#ifndef SMIMEPUB_WEB_H
#define SMIMEPUB_WEB_H

#include <stddef.h>

struct web_file {
	const char *path;          /* "/index.html" */
	const char *type;          /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

/* NULL-path terminated. */
extern const struct web_file web_files[];

#endif
