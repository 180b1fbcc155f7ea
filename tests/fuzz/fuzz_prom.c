/*
 * Fuzz target: the reader of an earlier textfile (src/report_prom.c,
 * report_prom_last_success), which a failed audit runs on whatever file sits at --output.
 * Property: a value is found only when some line is the sample itself, and it is finite and
 * positive, as the function promises.
 *
 * src/report_prom.c and src/report.c are compiled in here, since the command's sources are not
 * a library the fuzz targets link.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/report.c"
#include "../../src/report_prom.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether some line of data[0..size) starts with "<name> ". */
static int has_sample_line(const uint8_t *data, size_t size)
{
	const size_t n = strlen(LAST_SUCCESS);

	for (size_t at = 0; at < size;) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;

		if (end - at > n && memcmp(data + at, LAST_SUCCESS, n) == 0 && data[at + n] == ' ')
			return 1;
		at = end + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy without a terminator: the reader must stay within size */
	char *copy = malloc(size > 0 ? size : 1);
	double v = -1;

	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	if (report_prom_last_success(copy, size, &v) == 0 &&
	    (!has_sample_line(data, size) || !isfinite(v) || v <= 0))
		abort();
	free(copy);
	return 0;
}
