/*
 * smimepub: the engine. Every front end (the command line, the helpdesk web server, the mailbox
 * harvester) changes a directory through these calls and nothing else, so that there is one
 * apply path (read -> plan -> journal -> modify -> on conflict re-read and re-plan, void the
 * undo records of changes that did not happen, settle answers lost with the connection) and
 * one pipeline (batched searches, operations in flight, reconnect with backoff).
 *
 * Results are data: each item (one certificate published, one value removed, one input that
 * could not be read) is handed to the caller's item callback as an smp_item, with the action,
 * the reason code, the entry, the certificate's facts and problems and, in a dry run, the
 * exact change as LDIF. Nothing here prints, and no message names a command-line flag: what
 * to do about a reason is the front end's to say (it knows its own flags or buttons).
 *
 * Signals are the front end's: it ignores SIGPIPE (a server gone mid-write, or a worker's
 * pipe, is then an EPIPE the engine reconnects from or reports; publish, prune and harvest
 * also set SIGPIPE to be ignored themselves, as they always have) and turns SIGINT / SIGTERM
 * into smp_session_options.cancel; the library catches no signal itself.
 */
#ifndef SMIMEPUB_ENGINE_H
#define SMIMEPUB_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "smimepub/audit.h"
#include "smimepub/cert.h"
#include "smimepub/dir.h"
#include "smimepub/error.h"
#include "smimepub/lookup.h"
#include "smimepub/message.h"
#include "smimepub/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the options structs below; set `version` to it (the *_INIT macros do). */
#define SMP_ENGINE_VERSION 1

/* ---- Items: what the engine reports ------------------------------------------------------- */

/*
 * One result. Every pointer is borrowed for the duration of the callback: copy what you keep.
 * action: "published", "replaced", "removed", "reordered", "unchanged", "superseded" (a better
 * input for the address in the same run is published instead), "not_needed" (a signing-only
 * certificate beside the address's encryption certificate in the same run), "skipped", "failed",
 * and in a dry run "would_publish", "would_replace", "would_remove", "would_reorder"; the
 * read-only operations: "inspected", "looked_up", "audited", "referral".
 * reason: a stable code or NULL ("not_found", "ambiguous", "critical_problem", "downgrade",
 * "already_has_certificate", "already_published", "unavailable", "conflict",
 * "insufficient_access", "journal_unavailable", "file_not_found", "unreadable", "malformed",
 * "bad_address", "no_certificate", "signer_not_carried", "ad_partition", "referral",
 * "interrupted" (skipped: the session's cancel flag was set before it was done) ...).
 */
typedef struct smp_item {
	const char *source;          /* the input (file name, label), or NULL */
	const char *action;
	const char *reason;
	const char *dn;              /* the entry written (or that would be), or NULL */
	const char *message;         /* the facts in plain words, without advice; "" when none */
	const char *const *candidates; /* ambiguous: every DN that matched */
	size_t n_candidates;
	const char *ldif;            /* dry run: the LDIF that would be applied, else NULL */
	int created;                 /* a contact was (or would be) created */
	int status;                  /* this item's exit status (SPEC §5): 0, 1, 64 ... 77 */
	const smp_certinfo *cert;    /* the certificate's facts and problems, or NULL */
	const char *value_sha256;    /* remove: the SHA-256 of a removed value that is not a
					certificate (cert NULL), else NULL */
	/* prune and remove, for an item about one value (cert or value_sha256 set): */
	size_t value_index;          /* its position among the entry's certificate values,
					from 0 (as audit and lookup number values) */
	const char *attribute;       /* the attribute it was read in, or NULL */
	/* inspect of mail: the message the item is about (cert NULL: one without a
	   certificate to take), and the signer cert came from, else NULL */
	const smp_message *mail;
	const smp_signer *signer;    /* NULL with mail: the message has no signer */
	int preference;              /* cert is not the signer's own certificate: 1, the one its
					SMIMEEncryptionKeyPreference names; 2, a certificate the
					message carries for the signer's address that can encrypt,
					when the signer's own cannot (no attribute names it) */
	const smp_certinfo *signer_cert; /* the signer's own certificate's analysis, or NULL */
	const smp_lookup_result *lookup; /* lookup: the verdict for one entry found, or NULL */
	const smp_audit_entry *audit;    /* audit: one entry audited, or NULL */
	const char *record;          /* the journal record the item is about: for a change, the
					record that undoes it; for undo, the record undone;
					NULL when none */
	const char *record_time;     /* undo: when that record's change was made (RFC 3339) */
	/* only with created set: */
	int exchange_recipient;      /* 1 created as an Exchange mail contact, 0 not an Exchange
					recipient yet, -1 no Exchange in this profile */
	const char *exchange_command; /* the Exchange Management Shell line for it: 1,
					 Update-Recipient; 0, New-MailContact (dry run, to run
					 instead) or Enable-MailContact (it exists); else NULL */
	/* ca publish / list / remove (ca.h), else NULL / 0: */
	const char *container;       /* the CA container the entry is in */
	const char *ca_kind;         /* "root", "intermediate", "cross", "not_ca" */
	long chained;                /* published contact certificates whose chain passes
					through this CA (list, remove; only with ca_kind) */
} smp_item;

/* Called once per item, in input order. A non-zero return stops the operation. */
typedef int (*smp_item_fn)(const smp_item *item, void *ctx);

/* Called as a long operation goes: done items of total (0 = unknown). */
typedef void (*smp_progress_fn)(size_t done, size_t total, void *ctx);

/* ---- Session: directory, trust, journal --------------------------------------------------- */

typedef struct smp_session_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_dir *dir;                /* borrowed: open (and bound), or an LDIF export for a dry run;
					NULL for a session that only inspects */
	const smp_trust *trust;      /* borrowed */
	const char *journal;         /* journal path; NULL = the default (smp_journal_open) */
	int dry_run;                 /* plan and report the LDIF; change nothing */
	const char *command;         /* names the change in journal and LDIF comments */
	/* told about things worth a line on a log (e.g. "reconnected to ..."), or NULL */
	void (*notice)(const char *message, void *ctx);
	/*
	 * Called just before each modify is sent, with the entry's DN, or NULL. For tests: a
	 * second writer can change the entry here to force the conflict path deterministically.
	 */
	void (*before_modify)(const char *dn, void *ctx);
	void *ctx;                   /* for notice and before_modify */
	const char *actor;           /* who makes the changes, for the journal's records (the
					bind identity, smp_dir_identity); NULL: "unknown" */
	/* told about what an administrator should see even without -v (a journal repaired at
	   open), or NULL: notice gets it */
	void (*warning)(const char *message, void *ctx);
	/*
	 * Cancellation, or NULL: once *cancel is non-zero (a front end's signal handler sets it,
	 * or its output went away) every operation stops between changes: no new modify is sent,
	 * the ones in flight are waited for (or settled), the undo records of changes not sent
	 * are voided, and each item not done is reported with action "skipped", reason
	 * "interrupted" (status 1). audit and prune's walk stop at the next entry (the walk's
	 * error is SMP_ERR_CANCELLED). The library installs no signal handler itself.
	 */
	const volatile sig_atomic_t *cancel;
	/* how long a lost directory is tried again (backoff) before every item still to do
	   fails as "unavailable"; 0: 60 s */
	int reconnect_seconds;
} smp_session_options;

#define SMP_SESSION_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, NULL, NULL, 0, "smimepub", NULL, NULL, \
				   NULL, NULL, NULL, NULL, 0 }

typedef struct smp_session smp_session;

/*
 * A session over opts->dir and opts->trust (both borrowed: they must outlive it). The journal
 * is opened at the first write. Returns 0, SMP_ERR_USAGE for an options version this library
 * does not know, or SMP_ERR_NOMEM.
 */
int smp_session_new(smp_session **out, const smp_session_options *opts, smp_error *err);

/* The worst exit status of every item reported so far (SPEC §5, smp_status_worse). */
int smp_session_status(const smp_session *s);

/* Raises the session's status by one from outside an operation (a front end's own failure). */
void smp_session_note_status(smp_session *s, int status);

/* The directory the session works on (borrowed). */
smp_dir *smp_session_dir(smp_session *s);

/* Closes the journal and frees s (NULL is fine). */
void smp_session_free(smp_session *s);

/* ---- publish ------------------------------------------------------------------------------ */

typedef struct smp_publish_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_policy policy;           /* add / replace / prune_expired / force */
	int create_contact;          /* create a mail-enabled contact when nothing matches */
	const char *ou;              /* where contacts go; NULL = the base */
	int jobs;                    /* analysis processes and the cap on operations in flight;
					0 = the defaults */
	smp_item_fn on_item;
	smp_progress_fn on_progress;
	void *ctx;                   /* for on_item and on_progress */
} smp_publish_options;

#define SMP_PUBLISH_OPTIONS_INIT { SMP_ENGINE_VERSION, SMP_POLICY_INIT, 0, NULL, 0, NULL, NULL, NULL }

/*
 * Publishes every certificate in the files at paths[0..n) (any form smp_bundle_read takes;
 * each leaf of a bundle is one item): matched by address, then by subject DN; planned with
 * smp_plan_publish; journalled and written. Many inputs go through the pipeline (analysis in
 * worker processes, batched searches, writes in flight); results are the same as one by one
 * and come in input order. Returns 0 (refusals and failures are items), or SMP_ERR_NOMEM /
 * SMP_ERR_INTERNAL when the operation itself could not go on (err says why).
 */
int smp_publish_paths(smp_session *s, const smp_publish_options *opts,
		      const char *const *paths, size_t n, smp_error *err);

/*
 * Publishes one certificate already analysed: der/len its DER, ci its analysis (the caller
 * keeps it; the entry-side findings address_mismatch and no_mail_attribute are added to it),
 * source a label. Reports one item through opts->on_item. For harvest and the web page.
 * Returns 0 or SMP_ERR_NOMEM.
 */
int smp_publish_certificate(smp_session *s, const smp_publish_options *opts,
			    const unsigned char *der, size_t len, smp_certinfo *ci,
			    const char *source, smp_error *err);

/* ---- remove ------------------------------------------------------------------------------- */

typedef struct smp_remove_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_remove_sel sel;          /* fingerprint / expired / all */
	smp_item_fn on_item;
	void *ctx;
	int as_dn;                   /* 1: every target is a DN (--dn), see smp_remove */
} smp_remove_options;

#define SMP_REMOVE_OPTIONS_INIT { SMP_ENGINE_VERSION, { NULL, 0, 0 }, NULL, NULL, 0 }

/*
 * Removes the selected certificates from the entry that target names (a DN, or a mail
 * address matching exactly one entry). A target that is a valid mailbox (smp_address_normalize
 * and smp_address_check_mailbox accept it) is an address even when it also parses as a DN:
 * '=' may stand in a local part, so 'cn=alice@partner.example' is the mailbox; any other
 * target that libldap parses as a DN is a DN. With as_dn every target is a DN, and one that
 * does not parse as one fails as "bad_dn". One item per value removed (the first carries the dry
 * run's LDIF), or one item saying why nothing was. Returns 0, or SMP_ERR_USAGE for a
 * fingerprint that is not 64 hex digits (nothing reported).
 */
int smp_remove(smp_session *s, const smp_remove_options *opts, const char *target,
	       smp_error *err);

/*
 * smp_remove for each of targets[0..n), reported in that order, with the directory work of
 * many targets overlapped (batched searches, reads and modifies in flight, one fsync of the
 * journal per group); a lost connection is re-established with backoff. Returns 0,
 * SMP_ERR_USAGE as smp_remove, or SMP_ERR_NOMEM.
 */
int smp_remove_targets(smp_session *s, const smp_remove_options *opts,
		       const char *const *targets, size_t n, smp_error *err);

/* ---- undo -------------------------------------------------------------------------------- */

typedef struct smp_undo_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	int last;                    /* the records of the newest run that still has any to undo */
	int has_since;
	time_t since;                /* every record written at or after this time */
	const char *const *records;  /* these record ids */
	size_t n_records;
	smp_item_fn on_item;
	void *ctx;
} smp_undo_options;

#define SMP_UNDO_OPTIONS_INIT { SMP_ENGINE_VERSION, 0, 0, 0, NULL, 0, NULL, NULL }

/*
 * Applies the inverse records of the session's journal that opts selects, NEWEST FIRST, each
 * only where the entry is still as the change left it: every value the record deletes is on
 * the entry and none it adds is (exact-value modify); otherwise the record is skipped as
 * "conflict" and the entry left alone. --last and --since never select a record that an undo
 * wrote (undo those by id) nor one already undone. Each undo is journalled itself (its record
 * names the record it undid, so a later undo does not apply that record twice); in a dry run
 * each item carries the record's LDIF. One item per record: "undone" / "would_undo", or
 * "skipped" with reason "conflict", "already_undone", "voided" (its change never happened),
 * "torn" (cut short by a crash), "no_such_record", "gone" (the entry no longer exists), or
 * "failed". Returns 0 (also when nothing was selected: no item), SMP_ERR_NOTFOUND when there
 * is no journal, SMP_ERR_USAGE when opts selects nothing, or another error reading it.
 */
int smp_undo(smp_session *s, const smp_undo_options *opts, smp_error *err);

/*
 * Every record of the session's journal, NEWEST FIRST, as items: action "record" (or
 * "voided", "torn", "undone": a later undo undid it), record and record_time, dn, source the
 * command that wrote it, message who made it. Returns as smp_undo.
 */
int smp_journal_list(smp_session *s, smp_item_fn on_item, void *ctx, smp_error *err);

/* ---- harvest ------------------------------------------------------------------------------ */

typedef struct smp_harvest_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_publish_options publish; /* policy, contacts (its callbacks are not used) */
	int allow_from_mismatch;     /* publish a certificate that is not for the From, warned */
	smp_item_fn on_item;
	smp_progress_fn on_progress; /* after each input: (inputs done, inputs) */
	void *ctx;
	/* also publish the intermediate CA certificates the mail carries where clients take
	   their trust from (ca.h), each once per run and only when it chains to an anchor the
	   session already trusts; never a root. Needs a directory. */
	int publish_intermediates;
	const char *ca_base;         /* OpenLDAP's CA container (NULL: ou=CAs above the base) */
} smp_harvest_options;

#define SMP_HARVEST_OPTIONS_INIT { SMP_ENGINE_VERSION, SMP_PUBLISH_OPTIONS_INIT, 0, NULL, NULL, \
				   NULL, 0, NULL }

/*
 * Takes the signer certificates of the signed mail in paths[0..n) (.eml, mbox, Maildir, .p7s,
 * .p7m: smp_messages_read) and publishes each (or the one its SMIMEEncryptionKeyPreference
 * names) as smp_publish_certificate does, after the message's own checks: bad_signature is
 * never published, from_mismatch only when allowed. On a session without a directory each
 * certificate is judged alone (would_publish, or skipped for a critical problem). One item
 * per signer (mail, signer, preference and signer_cert set), per message without a
 * certificate to take (cert NULL: malformed, encrypted, unsigned, no_signer_certificate,
 * unreadable) and per input that cannot be read (mail NULL). With publish_intermediates,
 * also one item per CA certificate carried (ca_kind set; before the signers of the first
 * message that carries it): as smp_ca_publish_paths reports, or skipped "root_from_mail"
 * (status 0) / "untrusted_ca". Returns 0, SMP_ERR_NOMEM, or with publish_intermediates the
 * error that kept the CA containers from being read (then nothing was harvested).
 */
int smp_harvest_paths(smp_session *s, const smp_harvest_options *opts,
		      const char *const *paths, size_t n, smp_error *err);

/*
 * The same run fed one message at a time, for a mailbox (IMAP) where each message is filed by
 * its outcome. smp_harvest_begin: as smp_harvest_paths starts (the CA containers read with
 * publish_intermediates); returns 0 and *out (free with smp_harvest_end), or the error.
 */
typedef struct smp_harvest smp_harvest;

typedef enum smp_harvest_result {
	SMP_HARVEST_DONE = 0,     /* a certificate was taken (published, or already there)
				     and nothing about the message failed */
	SMP_HARVEST_FAILED,       /* definitely nothing to take, or refused: unsigned, bad or
				     missing signature, From mismatch, a critical problem, no
				     entry, an entry that holds another certificate ... */
	SMP_HARVEST_UNSETTLED,    /* says nothing about the message: the directory or the
				     journal was unavailable, access was refused, the run was
				     stopped. Leave it for the next run. */
} smp_harvest_result;

int smp_harvest_begin(smp_harvest **out, smp_session *s, const smp_harvest_options *opts,
		      smp_error *err);

/*
 * Harvests one RFC 5322 message of len bytes (never taken for an mbox), its items reported
 * through the options' on_item with label as their file, all before this returns.
 * *result: what the items came to. Returns 0, SMP_ERR_NOMEM (the run cannot go on) or
 * SMP_ERR_CANCELLED (the session was cancelled first: nothing was read); *result is then
 * SMP_HARVEST_UNSETTLED.
 */
int smp_harvest_data(smp_harvest *h, const unsigned char *data, size_t len, const char *label,
		     smp_harvest_result *result, smp_error *err);

/* Frees h (NULL: nothing). Nothing is left to report: smp_harvest_data reports each message's
 * items before it returns. */
void smp_harvest_end(smp_harvest *h);

/* ---- prune -------------------------------------------------------------------------------- */

typedef struct smp_prune_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_prune_sel sel;           /* which bad values go (audit.h) */
	int jobs;                    /* analysis processes for the walk and the cap on operations
					in flight; 0 = the defaults (the window finds the pace) */
	smp_item_fn on_item;
	/* the walk: (entries checked, 0); removing: (entries done, entries to change) */
	smp_progress_fn on_progress;
	/* "checking" when the walk starts, "removing" when the changes start, NULL at the end;
	   or NULL */
	void (*on_stage)(const char *stage, void *ctx);
	/* a part of the search the server referred elsewhere and that was not followed */
	void (*on_referral)(const char *url, void *ctx);
	void *ctx;                   /* for the callbacks */
} smp_prune_options;

#define SMP_PRUNE_OPTIONS_INIT { SMP_ENGINE_VERSION, SMP_PRUNE_SEL_INIT, 0, NULL, NULL, NULL, \
				 NULL, NULL }

/* What a prune did, for a summary. */
typedef struct smp_prune_report {
	size_t entries;              /* entries checked */
	size_t removed;              /* values removed (in a dry run: that would be) */
	size_t failed;               /* entries that could not be pruned */
	int walked;                  /* the walk ran (0: prune stopped before it began) */
	size_t skipped;              /* entries not changed because the run was asked to stop
					(smp_session_options.cancel): each an item "skipped" */
} smp_prune_report;

/*
 * Removes the bad values (smp_audit_prune_select under opts->sel) of every entry under the
 * directory's base. The walk only reads: each entry is audited (in analysis workers when
 * jobs allow) and the DNs to change are spooled to a temporary file; afterwards they are
 * changed a group at a time: read again with reads in flight, planned with smp_plan_prune,
 * their undo records synced once per group, their modifies in flight. An entry that changed
 * meanwhile is read, planned and written again alone, the way publish and remove do; a lost
 * connection is re-established with backoff and writes in flight then are settled by reading
 * their entries. A dry run reports from the walk, with the LDIF. One item per value removed
 * (value_index, attribute; the first of an entry carries the dry run's LDIF), one "failed"
 * item per entry that could not be pruned. Fills *report (may be NULL). Returns 0, or an
 * error (err's message says what stopped; the session's status includes it) when the run
 * could not start or the walk stopped early: what the walk found before is still pruned.
 */
int smp_prune(smp_session *s, const smp_prune_options *opts, smp_prune_report *report,
	      smp_error *err);

/* ---- Read-only operations: inspect, lookup, audit ----------------------------------------- */

typedef struct smp_inspect_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_item_fn on_item;
	smp_progress_fn on_progress; /* after each path: done paths of n */
	void *ctx;                   /* for on_item and on_progress */
} smp_inspect_options;

#define SMP_INSPECT_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, NULL, NULL }

/*
 * Reads the files at paths[0..n) ("-" is standard input) in every form: certificates (any
 * form smp_bundle_read takes; one item per leaf, action "inspected", cert its analysis with
 * the session's trust) and mail (a Maildir, an mbox, a message, a bare CMS object; one item
 * per signer certificate and per encryption key preference, with mail, signer, preference
 * and signer_cert set; one item with cert NULL for a message without a certificate to take
 * (reason "no_certificate") and for a signer whose certificate the message does not carry
 * (reason "signer_not_carried")). An input that cannot be read is an item with action
 * "failed", the reason "file_not_found", "unreadable" or "malformed", message the plain
 * words and status 65 or 66; a malformed message is also reported with mail set. The session
 * needs no directory. Returns 0, or SMP_ERR_USAGE / SMP_ERR_NOMEM when the operation could
 * not go on.
 */
int smp_inspect_paths(smp_session *s, const smp_inspect_options *opts,
		      const char *const *paths, size_t n, smp_error *err);

typedef struct smp_lookup_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	smp_item_fn on_item;
	void *ctx;
} smp_lookup_options;

#define SMP_LOOKUP_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, NULL }

/*
 * What mail clients find for address on the session's directory (SPEC §4): one item per
 * entry that has the address in mail or proxyAddresses (action "looked_up", dn, lookup the
 * verdict of smp_lookup_entry, borrowed for the call), or one item saying why there is none:
 * reason "bad_address" (source the address as given), "not_found", or action "failed" when
 * the directory could not be read or the entry judged. When no client can encrypt to the
 * address with what it finds, the session's status is raised to 1. Returns 0, or
 * SMP_ERR_USAGE for options this library does not know.
 */
int smp_lookup(smp_session *s, const smp_lookup_options *opts, const char *address,
	       smp_error *err);

typedef struct smp_audit_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	int jobs;                    /* analysis processes (never more than the online CPUs);
					1: in this process; 0: the default */
	smp_item_fn on_item;
	smp_progress_fn on_progress; /* entries audited so far (total 0: unknown) */
	void *ctx;                   /* for every callback here */
	/*
	 * Optional, both or neither: for a front end whose rendering would hold up the process
	 * that collects the workers' results (one process renders everything the workers found:
	 * a command's JSON costs that process as much as the workers' analysis). With workers,
	 * each audited entry's item is then handed to render in the worker that analysed it
	 * (with ctx as it was when the workers were forked), which writes it to fp; the bytes
	 * come to on_output in walk order instead of the items to on_item. Without workers, and
	 * for referrals, on_item is called as usual.
	 */
	int (*render)(const smp_item *item, FILE *fp, void *ctx);
	void (*on_output)(const char *data, size_t len, void *ctx);
} smp_audit_options;

#define SMP_AUDIT_OPTIONS_INIT { SMP_ENGINE_VERSION, 0, NULL, NULL, NULL, NULL, NULL }

/*
 * Walks every entry of the session's directory (or LDIF export) that holds a certificate and
 * audits it (smp_audit_entry_run with the session's trust): one item per entry in walk order
 * (action "audited", dn, audit the findings with the entry as read, borrowed for the call).
 * With jobs > 1 the analysis runs in worker processes, forked here (they inherit the trust);
 * the items are the same and in the same order. A referral the server returns is an item
 * (action "referral", source its URL, reason "ad_partition" for one of Active Directory's
 * configuration and DNS partitions, which hold no recipients, status 0; else "referral",
 * status 1), reported after every entry before it. *summary_out (caller frees with
 * smp_audit_summary_free) sums up the entries audited, also when the walk stopped; it is NULL
 * only when the audit could not start. Returns 0, the item callback's non-zero value, or an
 * error with err set when the walk or a worker failed (SMP_ERR_CANCELLED: the session's cancel
 * flag stopped it; SMP_ERR_UNAVAILABLE: the connection was lost, the walk is not resumed).
 */
int smp_audit(smp_session *s, const smp_audit_options *opts, smp_audit_summary **summary_out,
	      smp_error *err);

#ifdef __cplusplus
}
#endif

#endif
