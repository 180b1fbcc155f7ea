/* smimepub: journal of inverse changes and LDIF output (SPEC §4). */
#ifndef SMIMEPUB_JOURNAL_H
#define SMIMEPUB_JOURNAL_H

#include <stdio.h>

#include "smimepub/dir.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/*
 * Batches (bulk publish): the inverse records of many changes written with ONE write and ONE
 * fsync before any of those changes is sent, so "the undo is on disk before the change" holds
 * at one fsync per batch instead of one per change.
 *
 * A change that then definitely did not happen (the server refused the modify, which is atomic;
 * or, after a lost connection, a re-read shows the entry still in its before state) must not
 * stay undoable: applying its inverse could delete a value someone else added since. Such a
 * record is VOIDED IN PLACE: every line of it is turned into an LDIF comment line ('#' over
 * its first character), the length unchanged, then fsync. The journal thus stays a plain LDIF
 * file that `ldapmodify -f` applies (newest first) without any smimepub tooling, whatever
 * other processes appended meanwhile, and only records of changes that happened remain.
 * A void torn by a power loss mid-write leaves a record that ldapmodify rejects as a whole
 * (no dn, or a modify without a valid operation): it never applies part of a change.
 *
 * If the process dies between the batch's fsync and the results (kill -9), records of that one
 * batch may describe changes that were never sent. Each deletes a value that is then absent,
 * so `ldapmodify -c` rejects it as a whole (rc 16 / 20) and changes nothing; a rerun of the
 * same publish appends fresh records for what it then does. The same holds outside batches
 * for a single change or contact creation whose answer was lost with the connection: its
 * record stays, since the change may have happened (a contact's record deletes the entry).
 */
typedef struct smp_journal_batch smp_journal_batch;

/* A new empty batch (free with smp_journal_batch_free). Returns 0 or SMP_ERR_NOMEM. */
int smp_journal_batch_new(smp_journal_batch **out);

/*
 * Adds the inverse record of changes to dn to the batch (in memory); *id names it for
 * smp_journal_batch_void. Returns 0 or SMP_ERR_NOMEM / SMP_ERR_INTERNAL (already committed).
 */
int smp_journal_batch_add(smp_journal_batch *b, const char *dn, const smp_change *changes,
			  size_t n, size_t *id, smp_error *err);

/* Number of records in b. */
size_t smp_journal_batch_count(const smp_journal_batch *b);

/*
 * Appends every record of b with one write and syncs it (fsync) before returning 0. Only
 * then send the batch's changes; on an error send none of them.
 */
int smp_journal_batch_commit(smp_journal *j, smp_journal_batch *b, smp_error *err);

/*
 * Voids record id of a committed batch in place (see above) and syncs. A record whose bytes
 * on disk are no longer what was written is left alone. Returns 0 or an error.
 */
int smp_journal_batch_void(smp_journal *j, smp_journal_batch *b, size_t id, smp_error *err);

void smp_journal_batch_free(smp_journal_batch *b);

/* The journal's file name, owned by j. */
const char *smp_journal_path(const smp_journal *j);

/* Closes j; NULL is fine. */
void smp_journal_close(smp_journal *j);

#ifdef __cplusplus
}
#endif

#endif
