/*
 * smimepub command line: what publish, harvest and remove share over the engine: option
 * checks, opening the directory or the export, the session, and rendering each item (text,
 * JSON Lines, CSV; a dry run's LDIF) with the advice that names this front end's flags.
 */
#ifndef SMIMEPUB_CLI_PUBLISH_H
#define SMIMEPUB_CLI_PUBLISH_H

#include <jansson.h>

#include "cli.h"
#include "smimepub/engine.h"

/*
 * Refuses the option combinations publish and harvest (command) share: --from-ldif without
 * --dry-run or competing for standard input, --add with --replace, --ou without
 * --create-contact. Prints why and returns 64, or returns 0.
 */
int pub_check_policy(const struct cli_opts *o, const char *command);

/*
 * The directory publish and harvest plan against: the server (cli_connect), or with
 * --dry-run --from-ldif the export's entries (smp_dir_open_ldif, its warning printed).
 * Returns 0 and *dir (caller closes), or an error code with err set.
 */
int pub_open_dir(smp_dir **dir, const struct cli_opts *o, smp_error *err);

/* Where a command's items go: the options, stdout's formatter, the engine's session. */
struct cli_run {
	const struct cli_opts *o;
	struct cli_out out;
	smp_session *session;
	struct cli_progress progress;
	int status;               /* worst status of the items emitted (before and with a session) */
	char *actor;              /* who the journal's records name (the bind identity) */
};

/*
 * Starts a session over dir (may be NULL for a command that has none yet) and trust for
 * command, with the options' journal, dry run, -v notices and the test hook
 * SMIMEPUB_TEST_BEFORE_MODIFY (a shell command run before each modify, with the entry's DN in
 * SMIMEPUB_TEST_DN: how the tests force a concurrent change). Returns 0 or prints why and
 * returns the exit status.
 */
int cli_run_init(struct cli_run *run, const struct cli_opts *o, smp_dir *dir,
		 const smp_trust *trust, const char *command);

/* cli_run_init's two halves: the output (records can go out before there is a session) ... */
void cli_run_start(struct cli_run *run, const struct cli_opts *o);

/* ... and the session (the status of records already emitted carries over). */
int cli_run_open(struct cli_run *run, smp_dir *dir, const smp_trust *trust, const char *command);

/* The run's exit status (the session's worst), and the session freed. */
int cli_run_release(struct cli_run *run);

/* The publish options the command line gives (policy, contacts, --jobs) with run's callbacks. */
void cli_publish_options(smp_publish_options *po, struct cli_run *run);

/*
 * The action record for an item: file, dn, action, reason, message (with this front end's
 * advice for the reason), candidates, created, then the certificate's fields. New reference.
 */
json_t *cli_item_json(const smp_item *it);

/* A CA item's fields (ca.h) added to record: attribute and index, container, ca_kind, and for
   ca list and a CA still in use, chained. Nothing for an item that is not about a CA. */
void cli_ca_fields(json_t *record, const smp_item *item);

/*
 * Prints record (ownership taken) for item: text format in a dry run writes a file ldapmodify
 * accepts (the record as '#' comment lines, then the LDIF); JSON carries the LDIF in the
 * record's "ldif" field; CSV writes the LDIF to stderr.
 */
void cli_emit(struct cli_run *run, const smp_item *item, json_t *record);

/* smp_item_fn that renders each item as cli_emit does (ctx: the struct cli_run). */
int cli_item_print(const smp_item *item, void *ctx);

/* smp_item_fn of remove: as cli_item_print, with where each removed value was (index and
   attribute, numbered as audit and lookup do). */
int cli_remove_item(const smp_item *item, void *ctx);

/* smp_item_fn of undo --list: one record per journal record (command, by, record,
   record_time; the item's source is the command that wrote it, its message who). */
int cli_journal_item(const smp_item *it, void *ctx);

/* smp_progress_fn for the run's progress line (ctx: the struct cli_run). */
void cli_item_progress(size_t done, size_t total, void *ctx);

#endif
