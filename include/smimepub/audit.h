/* smimepub: findings about the certificates on one directory entry, and a whole run's summary. */
#ifndef SMIMEPUB_AUDIT_H
#define SMIMEPUB_AUDIT_H

#include <stddef.h>
#include <time.h>

#include "smimepub/cert.h"
#include "smimepub/clients.h"
#include "smimepub/dir.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits behind the directory-side codes (SPEC §3). */
#define SMP_AUDIT_MAX_VALUES 15          /* more: too_many_values (Entra ID sync stops) */
#define SMP_AUDIT_MAX_VALUE_SIZE 32768   /* larger: too_large (Active Directory's limit) */

/* One userCertificate value of an entry and what was found about it. */
typedef struct smp_audit_value {
	size_t index;            /* position in entry->certs */
	size_t size;             /* bytes */
	const char *attr;        /* attribute it came in, borrowed from the entry (may be NULL) */
	char sha256[65];         /* lower-case hex of the value's bytes, set even when malformed */
	smp_certinfo *info;      /* owned; NULL when the value is not a certificate */
	smp_problem *problems;   /* owned; problems of a value that is not a certificate */
	size_t n_problems;       /* (for a certificate, every problem is in info->problems) */
} smp_audit_value;

/* Every value of one entry, plus the problems of the entry as a whole. */
typedef struct smp_audit_entry {
	const smp_entry *entry;  /* borrowed: must outlive this */
	smp_audit_value *values; /* one per entry->certs value, same order */
	size_t n_values;
	smp_problem *entry_problems; /* too_many_values, no_mail_attribute, smime_attr_shadows */
	size_t n_entry_problems;
	char *address;           /* owned: the recipient judged for (smp_audit_entry_for), or NULL */
	smp_audit_value *smime;  /* one per entry->smime value: info is the analysis of its first
				    leaf usable for the recipient, else of its first leaf; NULL
				    (and the problem malformed) when it holds no certificate */
	size_t n_smime;
	smp_client_pick picks[SMP_CLIENT_COUNT]; /* what each client takes (clients.h) */
} smp_audit_entry;

/*
 * Analyses every certificate value of e with smp_cert_analyze_der judged by t, and adds the
 * directory-side problems: address_mismatch, duplicate, superseded, too_large, first_unusable,
 * malformed, issuer_not_distributed (with --trust directory; on values) and too_many_values, no_mail_attribute, smime_attr_shadows (on the
 * entry). Findings are data, not errors. Returns 0 and a result the caller frees with
 * smp_audit_entry_free (it borrows e), or SMP_ERR_NOMEM / SMP_ERR_INTERNAL.
 */
int smp_audit_entry_run(smp_audit_entry **out, const smp_entry *e, const smp_trust *t,
			smp_error *err);

/*
 * smp_audit_entry_run judged for mail to one recipient, address (as lookup does; NULL: the
 * same as smp_audit_entry_run). What changes with an address: address_mismatch is "the
 * certificate is not for address"; no_mail_attribute is "address is only in proxyAddresses";
 * the client picks (and so first_unusable and smime_attr_shadows) are for address. Without
 * one, the entry's addresses stand in: address_mismatch is "for none of them",
 * no_mail_attribute "the entry has no mail", and a value with address_mismatch is not usable.
 */
int smp_audit_entry_for(smp_audit_entry **out, const smp_entry *e, const char *address,
			const smp_trust *t, smp_error *err);

/* ---- What the directory distributes (issuer_not_distributed, SPEC §6) ------------------- */

/* What it means for clients that one CA of a verified chain comes from where it does. */
typedef enum smp_distribution {
	SMP_DIST_OK = 0,      /* the directory distributes it, the system store holds it, or it
				 travels with the certificate: clients have it */
	SMP_DIST_LOCAL_ONLY,  /* only a local anchor file (ca_file / ca_dir) has it: a warning,
				 for it may reach the clients some other way (a GPO) */
	SMP_DIST_MISSING      /* nothing the clients read has it (at most the local
				 untrusted_file): critical */
} smp_distribution;

/* The decision for one chain CA by its SMP_SOURCE_* bits. Pure. */
smp_distribution smp_chain_ca_distribution(unsigned sources);

/*
 * Adds issuer_not_distributed to ci for every CA of its verified chain (ci->chain) whose
 * smp_chain_ca_distribution is not SMP_DIST_OK -- a warning for SMP_DIST_LOCAL_ONLY -- with
 * the remedy SMP_REMEDY_PUBLISH_CA and the CA's fingerprint, file and rootness in the
 * problem's ca_* fields. Nothing when trust_sources (smp_trust_sources) leaves out
 * SMP_TRUST_DIRECTORY or the chain did not verify. Returns 0 or SMP_ERR_NOMEM.
 */
int smp_audit_check_distribution(smp_certinfo *ci, unsigned trust_sources);

/* The problems of value v (info's when it is a certificate); sets *problems, returns the count. */
size_t smp_audit_value_problems(const smp_audit_value *v, const smp_problem **problems);

/* The problem with that code on value v, or NULL. */
const smp_problem *smp_audit_value_problem(const smp_audit_value *v, const char *code);

/* The entry-level problem with that code, or NULL. */
const smp_problem *smp_audit_entry_problem(const smp_audit_entry *a, const char *code);

/* Highest severity over the entry's problems and all its values' problems. */
smp_severity smp_audit_entry_worst(const smp_audit_entry *a);

void smp_audit_entry_free(smp_audit_entry *a);

/* ---- Prune selection ---------------------------------------------------------------------- */

/* Which bad values `prune` removes. */
typedef struct smp_prune_sel {
	int expired;        /* values with `expired` */
	int untrusted;      /* values with `untrusted` (no path to a trust anchor) */
	int revoked;        /* values with `revoked` */
	int superseded;     /* values superseded by a usable value that is kept */
	int malformed;      /* values that are not certificates (off unless asked for) */
} smp_prune_sel;

#define SMP_PRUNE_SEL_INIT { 1, 1, 1, 1, 0 }

/* One value chosen for removal and why (a problem code, static). */
typedef struct smp_prune_pick {
	size_t index;           /* into entry->certs */
	const char *reason;
} smp_prune_pick;

/*
 * Chooses the values of an audited entry that prune removes under sel: only the bad values
 * themselves, never another certificate for the same address that is fine, never a value
 * that is not a certificate unless sel->malformed. A value is taken as superseded only when a
 * usable value for one of its addresses with a later notAfter stays on the entry, so prune
 * never leaves an address without its best certificate. Returns 0 with *out (NULL when *n
 * is 0; caller frees with free), in index order, or SMP_ERR_NOMEM.
 */
int smp_audit_prune_select(smp_prune_pick **out, size_t *n, const smp_audit_entry *a,
			   const smp_prune_sel *sel, smp_error *err);

/* ---- Summary of a run --------------------------------------------------------------------- */

/* Counts and the soonest expiries over a whole audit, in bounded memory. Opaque. */
typedef struct smp_audit_summary smp_audit_summary;

/* How many of the soonest expiries a summary keeps. */
#define SMP_AUDIT_SOONEST 10

/* A certificate that is not expired yet, and when it will be. */
typedef struct smp_audit_expiry {
	char *dn;
	char *subject;
	char sha256[65];
	time_t not_after;
} smp_audit_expiry;

/* Returns 0 and an empty summary the caller frees, or SMP_ERR_NOMEM. */
int smp_audit_summary_new(smp_audit_summary **out, smp_error *err);

/*
 * Adds one audited entry: counts the entry, its values, each problem code (value and entry
 * problems), and keeps the value among the SMP_AUDIT_SOONEST soonest notAfter of certificates
 * that are not expired. Copies what it keeps. Returns 0 or SMP_ERR_NOMEM.
 */
int smp_audit_summary_add(smp_audit_summary *s, const smp_audit_entry *a, smp_error *err);

/*
 * Folding in a summary made elsewhere (another process's, over a later stretch of the run):
 * adds entries and values; counts code count more times (severity from the code), as if
 * found now; offers one expiry to the soonest list (copied). Folding the parts of a run in
 * its order, codes in their order and expiries soonest first, gives the same summary as
 * adding every entry here. Return 0 or SMP_ERR_NOMEM.
 */
void smp_audit_summary_add_counts(smp_audit_summary *s, size_t entries, size_t values);
int smp_audit_summary_add_code(smp_audit_summary *s, const char *code, size_t count,
			       smp_error *err);
int smp_audit_summary_add_expiry(smp_audit_summary *s, const smp_audit_expiry *x,
				 smp_error *err);

/*
 * smp_audit_summary_add_code for count findings of code at severity sev -- which is not the
 * table's where the finding lowered it (issuer_not_distributed from a local anchor file),
 * so that a folded summary's severity counts and exit status are the same as unfolded.
 */
int smp_audit_summary_add_code_at(smp_audit_summary *s, const char *code, smp_severity sev,
				  size_t count, smp_error *err);

/* How many of code i's findings (smp_audit_summary_code) were of severity sev. */
size_t smp_audit_summary_code_severity(const smp_audit_summary *s, size_t i, smp_severity sev);

size_t smp_audit_summary_entries(const smp_audit_summary *s);

/* Values seen (certificates and values that are not certificates). */
size_t smp_audit_summary_values(const smp_audit_summary *s);

/* How many times the problem code was found. */
size_t smp_audit_summary_count(const smp_audit_summary *s, const char *code);

/* Number of distinct problem codes found; code i and its count, in order of first sighting. */
size_t smp_audit_summary_n_codes(const smp_audit_summary *s);
const char *smp_audit_summary_code(const smp_audit_summary *s, size_t i, size_t *count);

/* Number of problems found of that severity. */
size_t smp_audit_summary_severity_count(const smp_audit_summary *s, smp_severity sev);

/* The soonest expiries kept, soonest first: count, and item i (borrowed). */
size_t smp_audit_summary_n_soonest(const smp_audit_summary *s);
const smp_audit_expiry *smp_audit_summary_soonest(const smp_audit_summary *s, size_t i);

/*
 * Exit status by the monitoring-plugin convention (SPEC §5): 0 no problem, 1 warnings only,
 * 2 at least one critical problem. (3, could not complete, is the command's to return.)
 */
int smp_audit_summary_exit_status(const smp_audit_summary *s);

void smp_audit_summary_free(smp_audit_summary *s);

#ifdef __cplusplus
}
#endif

#endif
