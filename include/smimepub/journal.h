/* smimepub: journal of inverse changes and LDIF output (SPEC §4). */
#ifndef SMIMEPUB_JOURNAL_H
#define SMIMEPUB_JOURNAL_H

#include <stdio.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

/*
 * Writes the LDIF change record (changetype: modify) that applies changes to dn, as
 * `ldapmodify -f` accepts it, with a comment line first when comment is not NULL. Values are
 * base64 where LDIF requires it (libldap's ldif_put). Returns 0 or SMP_ERR_INTERNAL.
 */
int smp_ldif_write_modify(FILE *fp, const char *dn, const smp_change *changes, size_t n,
			  const char *comment, smp_error *err);

/* Writes an LDIF add record for a new entry with the given attributes. */
int smp_ldif_write_add(FILE *fp, const char *dn, const char *const *attrs,
		       const struct berval *const *values, size_t n, const char *comment,
		       smp_error *err);

typedef struct smp_journal smp_journal;

/*
 * Opens (creating directories as needed) the journal at path, or the default
 * $XDG_STATE_HOME/smimepub/journal.ldif (~/.local/state/...) when path is NULL. Appends only.
 */
int smp_journal_open(smp_journal **out, const char *path, smp_error *err);

/*
 * Appends the INVERSE of changes to dn (what undoes them), with a timestamp comment, and
 * flushes it to disk (fflush + fsync) before returning 0. Call before the directory write.
 */
int smp_journal_record(smp_journal *j, const char *dn, const smp_change *changes, size_t n,
		       smp_error *err);

/* Records the inverse of creating an entry (a delete record). */
int smp_journal_record_add(smp_journal *j, const char *dn, smp_error *err);

const char *smp_journal_path(const smp_journal *j);

void smp_journal_close(smp_journal *j);

#endif
