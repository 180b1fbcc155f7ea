/* smimepub: reading directory exports (LDIF) into entries, one record at a time (SPEC §2 audit). */
#ifndef SMIMEPUB_LDIF_IN_H
#define SMIMEPUB_LDIF_IN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest record accepted, in bytes of LDIF text (a hostile file cannot exhaust memory). */
#define SMP_LDIF_RECORD_MAX (64u * 1024 * 1024)

/*
 * Most values one entry may hold of the attributes kept (mail, proxyAddresses, userCertificate,
 * userSMIMECertificate, together); a record with more is refused with its line number. Each
 * value kept costs its copy and a pointer, so without it 64 MiB of `mail: a` lines made eight
 * million strings (325 MB). Active Directory stores at most about 1,300 values of a non-linked
 * attribute, and no mail user has thousands of addresses or certificates: ten thousand is past
 * any real entry. Values of other attributes (a large group's member) are not kept, cost no
 * memory and are not counted.
 */
#define SMP_LDIF_MAX_VALUES 10000

/*
 * Reads the LDIF export at path ("-" = standard input) and calls fn once per entry record, in
 * file order, with an entry that is freed when fn returns (copy what must outlive the call).
 * Only one record is held in memory at a time. Accepts `ldapsearch -LLL` output (comments,
 * `# refldap://` lines, `userCertificate;binary::`) and Windows `ldifde -f` output (any case of
 * attribute names, `changetype: add`, CRLF line ends, folded lines, `dn::`). userCertificate
 * in both forms goes to certs (file order, cert_attrs names the form), userSMIMECertificate in
 * both forms to smime; mail, proxyAddresses and cn are kept; other attributes are skipped.
 * Returns 0 when the whole file was read; SMP_ERR_NOFILE when it cannot be opened;
 * SMP_ERR_BADINPUT with the line number for malformed LDIF, for `:<` URL values (never
 * fetched) and for change records other than add; or fn's non-zero return value as is, which
 * stops the walk (fn is expected to have filled err then).
 */
int smp_ldif_walk(const char *path, int (*fn)(const smp_entry *e, void *ctx), void *ctx,
		  smp_error *err);

/*
 * smp_ldif_walk that also says whether the export comes from Active Directory: *ad_attr is
 * the name (static) of the first attribute only Active Directory has that the file holds
 * (objectGUID, objectSid, objectCategory, sAMAccountName or instanceType, which ldifde and an
 * ldapsearch of all attributes include), or NULL when there is none.
 */
int smp_ldif_walk_origin(const char *path, int (*fn)(const smp_entry *e, void *ctx), void *ctx,
			 const char **ad_attr, smp_error *err);

/*
 * smp_ldif_walk over an open stream (read from where it stands, left open), with fn also
 * given the byte offset of each entry's `dn:` line from where the walk began: for a stream
 * at its start, where smp_ldif_read_at finds that entry again. name is for messages.
 */
int smp_ldif_walk_stream(FILE *fp, const char *name,
			 int (*fn)(const smp_entry *e, uint64_t offset, void *ctx), void *ctx,
			 const char **ad_attr, smp_error *err);

/*
 * Reads the entry whose `dn:` line begins at byte offset of the seekable fp (an offset
 * smp_ldif_walk_stream gave). Returns 0 and *out (caller frees with smp_entry_free);
 * SMP_ERR_BADINPUT when no entry starts there (the file changed) or it is malformed;
 * SMP_ERR_NOMEM.
 */
int smp_ldif_read_at(FILE *fp, const char *name, uint64_t offset, smp_entry **out,
		     smp_error *err);

/* Same over len bytes of LDIF in memory (data need not be NUL-terminated). */
int smp_ldif_walk_mem(const void *data, size_t len, int (*fn)(const smp_entry *e, void *ctx),
		      void *ctx, smp_error *err);

#ifdef __cplusplus
}
#endif

#endif
