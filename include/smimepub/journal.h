/* smimepub: journal of inverse changes and LDIF output (SPEC §4). */
#ifndef SMIMEPUB_JOURNAL_H
#define SMIMEPUB_JOURNAL_H

#include <stdio.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

/*
 * Writes the LDIF change record (changetype: modify) that applies changes to dn, as
 * `ldapmodify -f` accepts it, with a comment line first when comment is not NULL (control
 * characters in it become spaces). One record: every change's deletions first, then every
 * change's additions, so ldapmodify applies it as ONE modify operation. Values are always
 * base64; the DN is base64 where LDIF requires it (libldap's ldif_put). Writes nothing when no
 * change holds a value. Returns 0 or SMP_ERR_INTERNAL (fp not writable).
 */
int smp_ldif_write_modify(FILE *fp, const char *dn, const smp_change *changes, size_t n,
			  const char *comment, smp_error *err);

/*
 * Writes an LDIF add record (with "changetype: add") for a new entry: n attribute/value pairs,
 * values[i] being the ONE value of attrs[i] (repeat a name for several values, e.g.
 * objectClass). Values are base64 where LDIF requires it. Returns 0 or SMP_ERR_INTERNAL.
 */
int smp_ldif_write_add(FILE *fp, const char *dn, const char *const *attrs,
		       const struct berval *const *values, size_t n, const char *comment,
		       smp_error *err);

/*
 * The journal: an LDIF file of change records, each preceded by a comment line
 * "# smimepub <RFC 3339 time> undo of change to '<dn>'" (or "undo of creation of"). Each
 * record undoes one directory write. To undo, apply the records NEWEST FIRST (from the end of
 * the file backwards) with `ldapmodify -f`: a record deletes exactly the values its change
 * added, so applying them out of order fails rather than damaging entries.
 */
typedef struct smp_journal smp_journal;

/*
 * Opens (creating directories as needed, mode 0700) the journal at path, or the default
 * $XDG_STATE_HOME/smimepub/journal.ldif ($HOME/.local/state/... when XDG_STATE_HOME is unset
 * or not absolute) when path is NULL. Appends only (O_APPEND; file created 0600). Returns 0 and
 * a journal closed with smp_journal_close; SMP_ERR_NOFILE when it cannot be created or opened;
 * SMP_ERR_USAGE when there is no default location (no HOME).
 */
int smp_journal_open(smp_journal **out, const char *path, smp_error *err);

/*
 * Appends the INVERSE of changes to dn (what undoes them: additions become deletions and
 * deletions additions, each in its original order, so a reorder is undone too), with a
 * timestamp comment, as one write, and syncs it to disk (fsync) before returning 0. Call
 * before the directory write; on an error (SMP_ERR_INTERNAL, SMP_ERR_NOMEM) do not write.
 * Records nothing when no change holds a value.
 */
int smp_journal_record(smp_journal *j, const char *dn, const smp_change *changes, size_t n,
		       smp_error *err);

/* Records the inverse of creating an entry (a "changetype: delete" record), synced. */
int smp_journal_record_add(smp_journal *j, const char *dn, smp_error *err);

/* The journal's file name, owned by j. */
const char *smp_journal_path(const smp_journal *j);

/* Closes j; NULL is fine. */
void smp_journal_close(smp_journal *j);

#endif
