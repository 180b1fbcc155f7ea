/*
 * Fuzz target: the LDIF reader over memory (smp_ldif_walk_mem), touching every value it hands
 * out; then the same bytes as an export opened as a read-only directory (smp_dir_open_ldif,
 * what publish/harvest --dry-run --from-ldif use), searched by address and read by DN.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smimepub/dir.h"
#include "smimepub/ldif_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int touch(const smp_entry *e, void *ctx)
{
	size_t *sum = ctx;

	*sum += strlen(e->dn) + (e->cn ? strlen(e->cn) : 0);
	for (size_t i = 0; i < e->n_mail; i++)
		*sum += strlen(e->mail[i]);
	for (size_t i = 0; i < e->n_proxy; i++)
		*sum += strlen(e->proxy[i]);
	for (size_t i = 0; i < e->n_certs; i++) {
		*sum += strlen(e->cert_attrs[i]);
		if (e->certs[i].bv_len > 0)
			*sum += (unsigned char)e->certs[i].bv_val[e->certs[i].bv_len - 1];
	}
	for (size_t i = 0; i < e->n_smime; i++)
		if (e->smime[i].bv_len > 0)
			*sum += (unsigned char)e->smime[i].bv_val[0];
	(void)smp_entry_has_address(e, "alice@partner.example");
	return 0;
}

/* The export path of the bytes: a memory file, so nothing touches the disk. */
static void as_directory(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	smp_dir *d = NULL;
	smp_entry **found = NULL, *e = NULL;
	size_t n = 0, sum = 0;
	char path[64], *dn = NULL;
	int fd = memfd_create("fuzz-ldif", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, data, size) != (ssize_t)size)
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (smp_dir_open_ldif(&d, path, SMP_SCHEMA_AUTO, NULL, &err) != 0)
		goto out;
	if (smp_dir_find_by_address(d, "alice@partner.example", &found, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			(void)touch(found[i], &sum);
		smp_entries_free(found, n);
	}
	if (smp_dir_read(d, "cn=Alice,ou=partners,dc=example,dc=test", &e, &err) == 0)
		smp_entry_free(e);
	if (smp_dir_contact_dn(d, NULL, "Alice, \"A\" <x>", &dn, &err) == 0)
		free(dn);
	(void)smp_dir_walk(d, touch, NULL, &sum, &err);
out:
	smp_dir_close(d);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	size_t sum = 0;

	(void)smp_ldif_walk_mem(data, size, touch, &sum, &err);
	as_directory(data, size);
	return 0;
}
