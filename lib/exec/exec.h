/*
 * smimepub (internal): the engine's shared machinery behind include/smimepub/engine.h: the
 * session and the one apply path (existing values, exact-value writes journalled first,
 * voided when refused, a write whose answer was lost left for settling). Every operation that
 * writes runs its entries through the one pipeline (pipeline.h) on top of it.
 */
#ifndef SMIMEPUB_EXEC_H
#define SMIMEPUB_EXEC_H

#include <stdio.h>

#include "smimepub/engine.h"
#include "smimepub/journal.h"
#include "smimepub/message.h"
#include "window.h"

/* Analysis processes when the caller names no number (never more than the CPUs). */
#define SMP_DEFAULT_JOBS 8

/* Re-reads and re-plans after SMP_ERR_CONFLICT at most this many times. */
#define PUB_MAX_RETRIES 3

/*
 * A write whose outcome is unknown (the connection went away before its result came): its
 * undo record (a one-record journal batch), the entry's values before, and the change.
 */
struct pub_unknown {
	int set;
	char *dn;
	struct berval *before;
	size_t n_before;
	struct berval *del, *add;
	size_t n_del, n_add;
	smp_action action;
	smp_journal_batch *jb;
	size_t jid;
};

void pub_unknown_release(struct pub_unknown *u);

/* What one run shares: options, connection, trust, the journal (opened at the first write). */
struct smp_session {
	smp_session_options o;    /* the caller's, copied (strings borrowed) */
	smp_dir *dir;             /* borrowed, open and bound */
	const smp_trust *trust;   /* borrowed */
	smp_journal *journal;     /* owned; NULL until the first write */
	int status;               /* worst exit status so far (smp_status_worse) */
	int down;                 /* reconnecting gave up: every further item fails */
	struct pub_unknown unknown; /* pub_apply's write cut off by a lost connection, for
				       pipe_single to settle */
	const smp_publish_options *pub; /* the publish running now (borrowed), or NULL */
	const smp_remove_options *rm;   /* the remove running now (borrowed), or NULL */
	void (*idle)(void *);     /* the pipeline calls it (with idle_ctx) before each wait for the
				     directory, or NULL: the caller's other work (analysis
				     workers) keeps going */
	void *idle_ctx;
	size_t done_before;       /* a bulk publish's progress: items finished before this chunk */
	size_t total;             /* and in the whole run (0 = unknown) */
	smp_window win;           /* operations in flight (the pipeline): bounded by jobs if given */
	const char *undoes;       /* undo: the record pub_apply's next write undoes, or NULL */
	struct run_best *best;    /* publish: the certificate on each address so far this run */
	size_t n_best, cap_best;
	size_t *best_slot;        /* open-addressing index into best (SIZE_MAX: empty) */
	size_t n_slots;           /* a power of two, at least twice n_best */
	int replace_run;          /* publish: the certificate being planned may replace the one an
				     earlier chunk of this run published for its address */
	char record[24];          /* the id of pub_apply's last journal record, or "" */
};

/* Opens the session's journal at its first write, naming the command and actor. */
int pub_journal_ready(smp_session *c, smp_error *err);

/*
 * What a publish of many inputs put on an address so far, so that an input more than a chunk
 * away from another for the same address still ends with the best one on the entry: each
 * chunk's inputs are judged against the earlier chunks' winners (pub_bulk).
 */
struct run_best {
	char *addr;               /* normalised */
	char sha256[65];
	int usable;
	time_t not_after;
	char *source;             /* the input it came from */
};

/* Raises c->status to status when that is worse (smp_status_worse). */
void pub_note_status(smp_session *c, int status);

/* The outcome for one certificate (or one entry for remove). Strings owned. */
struct pub_result {
	const char *action;       /* "published", "would_publish", "unchanged", "skipped",
				     "failed", ... (static) */
	const char *reason;       /* static code or NULL: "not_found", "ambiguous",
				     "critical_problem", "already_has_certificate", ... */
	char *dn;                 /* the entry written (or that would be), or NULL */
	char *message;            /* plain words for the administrator, or NULL */
	char **candidates;        /* ambiguous: every DN that matched */
	size_t n_candidates;
	char *ldif;               /* dry run: the LDIF that would be applied, else NULL */
	int created;              /* a contact was (or would be) created */
	int exchange;             /* created: smp_contact's exchange (1, 0, -1) */
	char *exchange_command;   /* created: the Exchange Management Shell line for it, or NULL */
	char *exchange_note;      /* created: what the message says of it, or NULL */
	int status;               /* this item's exit status: 0, 1, 69, 77 */
	char record[24];          /* the journal record that undoes the change made, or "" */
};

void pub_result_release(struct pub_result *res);

/*
 * Publishes one certificate: der/len its DER, ci its analysis (the caller's; this adds the
 * entry-side findings address_mismatch and no_mail_attribute to it; ci->x509 may be NULL,
 * der is read instead), source a label for messages (file name, "signer in 'x.eml'").
 * Matches by address, then by subject DN; creates a contact when asked; plans with
 * smp_plan_publish under the options' policy; journals and writes one modify, re-reading and
 * re-planning on conflict; in a dry run fills res->ldif instead. Always fills res (refusals
 * and failures are results, not errors) and returns 0; SMP_ERR_NOMEM only when even that
 * failed.
 */
int pub_certificate(smp_session *c, const unsigned char *der, size_t len, smp_certinfo *ci,
		    const char *source, struct pub_result *res);

/*
 * Hands res to the running operation's on_item as an smp_item (ci and source may be NULL)
 * and notes its status. Returns on_item's value.
 */
/* The smp_item for res (borrowing from it, ci and source). */
void pub_item_fill(smp_item *it, const struct pub_result *res, const smp_certinfo *ci,
		   const char *source);

/*
 * The one way an item goes out: a NULL message becomes "", the item's status is noted in the
 * session, then on_item (may be NULL) gets it -- unless *stop is already set; *stop (may be
 * NULL) takes on_item's return value.
 */
void pub_emit_item(smp_session *c, smp_item *it, smp_item_fn on_item, void *ctx, int *stop);

int pub_report(smp_session *c, const struct pub_result *res, const smp_certinfo *ci,
	       const char *source, smp_item_fn on_item, void *ctx);

/* ---- pieces remove (and prune) reuse --------------------------------------------------- */

/* An entry's certificate values with their analyses (NULL where a value is not one). */
struct pub_existing {
	smp_existing ex;
	smp_certinfo **info;
	smp_certinfo *shared;      /* borrowed: info[i] that is the new certificate's analysis */
};

/*
 * Analyses every value of e->certs with trust. A value that is byte for byte newder (may be
 * NULL) is the certificate being published: it gets newinfo (borrowed) instead of a second
 * analysis, so the plan judges the two alike. Returns 0 or SMP_ERR_NOMEM.
 */
int pub_existing_load(struct pub_existing *pe, const smp_entry *e, const struct berval *newder,
		      smp_certinfo *newinfo, const smp_trust *trust, smp_error *err);

void pub_existing_release(struct pub_existing *pe);

/*
 * Carries out plan on entry e: builds the exact-value changes (deletions in the attribute each
 * value was read from, additions in the profile's certificate attribute); in a dry run appends
 * their LDIF to *ldif (comment may be NULL); otherwise records the inverse in the journal and
 * applies ONE modify. Returns 0 (also when the plan writes nothing), SMP_ERR_CONFLICT when the
 * entry changed (re-read and re-plan), or another error with the reason in err.
 */
int pub_apply(smp_session *c, const smp_entry *e, const smp_plan *plan, const char *comment,
	      char **ldif, smp_error *err);

/*
 * The one apply path of a modify: in a dry run appends the LDIF of changes to dn to *ldif
 * (comment may be NULL); otherwise journals their inverse (fsync), sends ONE modify and, when
 * the server refuses it, voids the record. c->record gets the record's id when it was applied.
 * When the connection went away before the answer (SMP_ERR_UNAVAILABLE), the outcome is
 * unknown: with jb_out the batch holding the record (the caller's to free) and its id go
 * out for settling. Returns 0 or the modify's error.
 */
int exec_modify(smp_session *c, const char *dn, const smp_change *changes, size_t n,
		const char *comment, char **ldif, smp_journal_batch **jb_out, size_t *jid_out,
		smp_error *err);

/*
 * The one apply path of a new entry k: in a dry run appends its LDIF add record (comment
 * above it) to *ldif; otherwise journals the delete that undoes it (fsync), adds it, and
 * voids the record when the server refused. c->record gets the record's id. Returns 0 or
 * smp_dir_add_contact's error.
 */
int exec_create(smp_session *c, const smp_contact *k, const char *comment, char **ldif,
		smp_error *err);

/*
 * The one apply path of deleting the entry dn, which holds attrs[i] = values[i] (i < n): in
 * a dry run its LDIF delete record; otherwise journals the add that re-creates it, deletes
 * it, voids the record when refused. Returns 0 or smp_dir_delete's error.
 */
int exec_delete(smp_session *c, const char *dn, const char *const *attrs,
		const struct berval *values, size_t n, const char *comment, char **ldif,
		smp_error *err);

/*
 * The exact-value changes that carry out plan on e, as pub_apply sends them (deletions in the
 * attribute each value was read from, additions in the profile's certificate attribute; the
 * additions borrow plan->add). For pipelines that journal and send them themselves. Free
 * with free_changes. Returns 0 or SMP_ERR_NOMEM.
 */
int build_changes(const smp_profile *prof, const smp_entry *e, const smp_plan *plan,
		  smp_change **out, size_t *nout, smp_error *err);
void free_changes(smp_change *changes, size_t n);

/* The exit status and reason code for a failed directory operation (69/"unavailable", ...). */
void pub_failure(struct pub_result *res, int code, const char *message);

/* "would_publish" for "published" and so on in a dry run; name itself otherwise. */
const char *pub_action_name(const smp_session *c, smp_action a);

/*
 * Whether the input at path (data/len its first bytes, or NULL before it is read) is mail
 * (.eml, .p7s, .p7m, mbox, Maildir, headers with Content-Type) rather than certificates: how
 * inspect and ca publish tell the two apart.
 */
int pub_looks_like_mail(const char *path, const unsigned char *data, size_t len);

/* ---- reconnecting and settling (pipeline.c) ------------------------------------------- */

#define PUB_RECONNECT_SECONDS 60

/* Whether the front end asked the session's operations to stop (smp_session_options.cancel). */
static inline int pub_cancelled(const smp_session *c)
{
	return c->o.cancel != NULL && *c->o.cancel != 0;
}

/* What an item the operation did not get to because it was asked to stop says. */
#define PUB_INTERRUPTED_MSG "not done: the operation was interrupted before this change"

/*
 * Reconnects with backoff (0.2 s, 0.5 s, 1 s, then every 2 s up to PUB_RECONNECT_SECONDS).
 * Returns 0, or the last error with c->down set: the directory stayed away, nothing more is
 * tried. Shared by the pipelines of publish and prune.
 */
int bulk_reconnect(smp_session *c, smp_error *err);

/*
 * Settles a write whose answer was lost with the connection: re-reads dn (reconnecting as
 * needed) and decides from its values whether the modify (delete del, then add add) of an
 * entry that held before[0..nb) happened; when it did not, voids its undo record jid in jb.
 * Sets *happened. Returns 0 or an error (the directory stayed away: the record is kept).
 */
int settle_unknown(smp_session *c, const char *dn, const struct berval *before, size_t nb,
		   const struct berval *del, size_t nd, const struct berval *add, size_t na,
		   smp_journal_batch *jb, size_t jid, int *happened, smp_error *err);

/* Calls the session's before_modify hook (tests) for dn, if any. */
void pub_before_modify(smp_session *c, const char *dn);

/* Tells the running publish's on_progress that done items of c->total are finished. */
void pub_progress(smp_session *c, size_t done);

/* Reports a lost connection's reconnect through the session's notice callback. */
void pub_notice(smp_session *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * harvest --publish-intermediates (lib/exec/ca.c): the CA certificates signed mail carries,
 * published as `ca publish` would, each once per run, only when it chains to an anchor
 * already trusted (c->trust) and never a root. Begin reads the containers and what they
 * hold (an error there stops the harvest before anything is read); free is NULL-safe.
 */
struct ca_harvest;
int ca_harvest_begin(struct ca_harvest **out, smp_session *c, const char *ca_base,
		     smp_item_fn on_item, void *ctx, smp_error *err);
void ca_harvest_free(struct ca_harvest *h);

/* Whether m carries a CA certificate this run has not judged yet (then flush what is
   pending first, so that items stay in message order). */
int ca_harvest_pending(struct ca_harvest *h, const smp_message *m);

/*
 * Judges and publishes the CA certificates m carries that this run has not seen, one item
 * each (mail set; ca_kind; skipped "root_from_mail" with status 0, skipped "untrusted_ca",
 * or as ca publish reports). Call only for a message whose signature verified. Returns 0 or
 * SMP_ERR_NOMEM.
 */
int ca_harvest_message(struct ca_harvest *h, const smp_message *m);

#endif
