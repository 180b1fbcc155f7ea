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

/* The LDIF delete record of dn (comment, may be NULL, above it as a '#' line). */
int smp_ldif_write_delete(FILE *fp, const char *dn, const char *comment, smp_error *err);

/*
 * The journal: an LDIF file of change records, each of which undoes one directory write.
 * To undo, apply the records NEWEST FIRST (`smimepub undo`, or `ldapmodify -c -f` of the
 * records from the end of the file backwards): a record deletes exactly the values its change
 * added, so applying them out of order fails rather than damaging entries.
 *
 * Each record is framed by two comment lines, so that ldapmodify ignores the framing and
 * smimepub can name, check and select records:
 *
 *   # smimepub record <id> time=<RFC 3339> run=<run> command=<cmd> [undoes=<id>] by=<who>
 *   # undo of change to '<dn>'            (or "undo of creation of", "re-creation of")
 *   dn: ...                               (the LDIF change record, values base64)
 *   # smimepub end <id> sha256=<hex>
 *   <empty line>
 *
 * id: 16 hex digits, random, stable for the record's life; run: the id shared by every record
 * one process wrote; by: the bind identity (smp_journal_set_origin). The SHA-256 covers every
 * byte from the start of the header line to the end of the line before the end line, so a
 * record cut short by a crash or a full disk (no end line, or a digest that does not match) is
 * recognised as torn. A voided record (see below) says "voided" instead of "record" in its
 * header. Records of earlier versions (one comment "# smimepub <time> undo of ...") are read as
 * legacy records: no id of their own, no digest.
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
 * Who and what every record appended from now on names: command ("publish", "undo" ...) and
 * actor (the bind identity: a DN, a SASL identity, "anonymous"). Both copied; NULL keeps the
 * current value ("smimepub", "unknown" at first). Returns 0 or SMP_ERR_NOMEM.
 */
int smp_journal_set_origin(smp_journal *j, const char *command, const char *actor);

/*
 * What smp_journal_open found and repaired (a last record cut short by a crash or a full disk
 * is voided in place and closed off, so new records follow cleanly), in words, or NULL.
 */
const char *smp_journal_notice(const smp_journal *j);

/* The run id every record appended through j carries (16 hex digits, owned by j). */
const char *smp_journal_run(const smp_journal *j);

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

/*
 * smp_journal_batch_add for a record whose change undoes journal record undoes (NULL: none).
 * j names the record's origin (smp_journal_set_origin).
 */
int smp_journal_batch_add_undo(smp_journal_batch *b, const smp_journal *j, const char *dn,
			       const smp_change *changes, size_t n, const char *undoes,
			       size_t *id, smp_error *err);

/*
 * Adds the inverse of creating the entry dn (a delete record) to b, as smp_journal_record_add,
 * marked as undoing record undoes (NULL: none).
 */
int smp_journal_batch_add_creation(smp_journal_batch *b, const smp_journal *j, const char *dn,
				   const char *undoes, size_t *id, smp_error *err);

/*
 * Adds the inverse of deleting the entry dn, which held attrs[i] = values[i] (i < n), to b: a
 * "changetype: add" record that re-creates it, marked as undoing record undoes (may be NULL).
 */
int smp_journal_batch_add_deletion(smp_journal_batch *b, const smp_journal *j, const char *dn,
				   const char *const *attrs, const struct berval *values,
				   size_t n, const char *undoes, size_t *id, smp_error *err);

/* The stable id of record id of b (16 hex digits, owned by b), or NULL when it holds none. */
const char *smp_journal_batch_record_id(const smp_journal_batch *b, size_t id);

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

/* ---- Reading the journal ------------------------------------------------------------------ */

typedef enum smp_journal_state {
	SMP_JOURNAL_OK = 0,   /* framed and its digest matches */
	SMP_JOURNAL_VOIDED,   /* voided in place: its change did not happen */
	SMP_JOURNAL_TORN,     /* cut short or damaged: never applied */
	SMP_JOURNAL_LEGACY,   /* written by an earlier version: no id, no digest */
} smp_journal_state;

/* One record as it stands in the file; every pointer is borrowed for the callback. */
typedef struct smp_journal_info {
	smp_journal_state state;
	const char *id;       /* its id; a legacy or torn record without one: "@<offset>" */
	const char *time;     /* RFC 3339 as written, or "" */
	const char *run;      /* "" when unknown */
	const char *command;  /* "" when unknown */
	const char *undoes;   /* the record its change undid, or NULL */
	const char *by;       /* "" when unknown */
	const char *text;     /* the record's bytes in the file, header to end line */
	size_t len;
	unsigned long long offset; /* where text starts in the file */
	unsigned long line;   /* its first line (1-based) */
} smp_journal_info;

/*
 * Calls fn for every record of the journal at path (NULL: the default location), in file
 * order, reading it as a stream (memory does not grow with the file). Text between records
 * that is not a record (comments, empty lines) is skipped. Stops at fn's first non-zero return
 * and returns it. Returns 0; SMP_ERR_NOTFOUND when there is no journal file; SMP_ERR_NOFILE
 * when it cannot be read; SMP_ERR_BADINPUT when a record is larger than 64 MiB.
 */
int smp_journal_walk(const char *path, int (*fn)(const smp_journal_info *r, void *ctx),
		     void *ctx, smp_error *err);

/* The change one record holds, parsed from its LDIF by libldap (ldap_parse_ldif_record). */
typedef enum smp_journal_op {
	SMP_JOURNAL_MODIFY = 1,  /* changes[]: exact values to delete, then to add */
	SMP_JOURNAL_DELETE,      /* deletes the entry (the undo of a creation) */
	SMP_JOURNAL_ADD,         /* re-creates the entry: attrs[i] = values[i] */
} smp_journal_op;

typedef struct smp_journal_change {
	smp_journal_op op;
	char *dn;
	smp_change *changes;     /* MODIFY: one per attribute and operation, in record order */
	size_t n_changes;
	char **attrs;            /* ADD */
	struct berval *values;
	size_t n_values;
} smp_journal_change;

/*
 * Parses the LDIF change record in text[0..len) (an smp_journal_info's text). Returns 0 and
 * *out (free with smp_journal_change_free); SMP_ERR_BADINPUT when it is not one modify, delete
 * or add record (a voided record is not); SMP_ERR_NOMEM.
 */
int smp_journal_parse(smp_journal_change **out, const char *text, size_t len, smp_error *err);

void smp_journal_change_free(smp_journal_change *c);

/* The journal's default file name (malloc'd, caller frees) or an error as smp_journal_open. */
int smp_journal_default_path(char **out, smp_error *err);

/* The journal's file name, owned by j. */
const char *smp_journal_path(const smp_journal *j);

/* Closes j; NULL is fine. */
void smp_journal_close(smp_journal *j);

#ifdef __cplusplus
}
#endif

#endif
