/*
 * Fuzz target: the undo journal reader. The bytes are a journal file (a memory file, so nothing
 * touches the disk): smp_journal_walk hands out every record, each of which must be the very
 * bytes of the file at its offset (undo selects and applies records by what the walk says), and
 * smp_journal_parse reads each record's LDIF. Then the same file is opened for appending
 * (smp_journal_open closes off a torn tail in place), after which it must end as every record
 * ends, and is walked again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smimepub/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct file {
	const uint8_t *data;
	size_t size;
};

static int check_record(const smp_journal_info *r, void *ctx)
{
	const struct file *f = ctx;
	smp_error err = SMP_ERROR_INIT;
	smp_journal_change *c = NULL;

	if (r->id == NULL || r->time == NULL || r->run == NULL || r->command == NULL ||
	    r->by == NULL || r->text == NULL || r->line == 0)
		abort();
	/* the record is what the file holds there (f->data NULL: the repaired file, unknown) */
	if (f->data != NULL && (r->offset > f->size || r->len > f->size - r->offset ||
				memcmp(f->data + r->offset, r->text, r->len) != 0))
		abort();
	if (smp_journal_parse(&c, r->text, r->len, &err) == 0) {
		if (c->dn == NULL)
			abort();
		for (size_t i = 0; i < c->n_changes; i++)
			if (c->changes[i].attr == NULL || c->changes[i].n_del + c->changes[i].n_add == 0)
				abort();
		for (size_t i = 0; i < c->n_values; i++)
			if (c->attrs[i] == NULL)
				abort();
		smp_journal_change_free(c);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	smp_journal *j = NULL;
	struct file f = { data, size };
	struct stat st;
	char path[64], tail[2];
	int fd = memfd_create("fuzz-journal", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size)
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	(void)smp_journal_walk(path, check_record, &f, &err);
	if (smp_journal_open(&j, path, &err) != 0)
		goto out;
	(void)smp_journal_notice(j);
	smp_journal_close(j);
	/* a journal that was not empty ends with the empty line after its last record */
	if (fstat(fd, &st) != 0)
		abort();
	if (st.st_size > 0 && st.st_size < (64 << 20) &&
	    (st.st_size < 2 || pread(fd, tail, 2, st.st_size - 2) != 2 || tail[0] != '\n' ||
	     tail[1] != '\n'))
		abort();
	f.data = NULL;
	(void)smp_journal_walk(path, check_record, &f, &err);
out:
	close(fd);
	return 0;
}
