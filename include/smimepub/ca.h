/*
 * smimepub: partner CA certificates where clients take their trust from (SPEC §6).
 *
 * Active Directory keeps them in the configuration partition (read from the root DSE, never
 * guessed from the forest's name): roots in CN=Certification Authorities, intermediates and
 * cross-certificates in CN=AIA, both under CN=Public Key Services,CN=Services. Windows puts
 * the first into every domain member's Trusted Root store and the second into its
 * Intermediate store. OpenLDAP has no such convention: both are one --ca-base container
 * (default ou=CAs above the search base). Which layout a directory has is profile data
 * (smp_profile's ca_* fields), never a comparison of the profile's name.
 */
#ifndef SMIMEPUB_CA_H
#define SMIMEPUB_CA_H

#include <stddef.h>

#include <lber.h>
#include <openssl/x509.h>

#include "smimepub/dir.h"
#include "smimepub/engine.h"
#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The two containers of a directory; the same DN twice where the profile has one. */
typedef struct smp_ca_containers {
	char *roots;          /* self-signed roots (malloc'd, RFC 4514 as libldap writes it) */
	char *intermediates;  /* intermediates and cross-certificates (malloc'd) */
} smp_ca_containers;

#define SMP_CA_CONTAINERS_INIT { NULL, NULL }

/*
 * The containers profile p puts CA certificates in, without I/O. With p->ca_root_dse_attr
 * (Active Directory), partition is that root DSE attribute's value (the configuration
 * naming context) and each container is the profile's RDNs above it; ca_base and base are
 * ignored. Without it, both containers are ca_base, or when ca_base is NULL the profile's
 * ca_default_base_rdn above base. Every DN is checked and normalised by libldap. Returns 0
 * and fills *out (release with smp_ca_containers_release; cleared first); SMP_ERR_USAGE
 * when a needed DN is missing or is not a DN (the message names which), SMP_ERR_NOMEM.
 */
int smp_ca_containers_for(smp_ca_containers *out, const smp_profile *p, const char *partition,
			  const char *base, const char *ca_base, smp_error *err);

/*
 * smp_ca_containers_for on a connected directory: the partition read from d's root DSE,
 * base = smp_dir_base(d). SMP_ERR_NOTFOUND when the root DSE does not name the partition
 * (a directory that says it is Active Directory without a configuration naming context);
 * else as smp_ca_containers_for.
 */
int smp_dir_ca_containers(smp_ca_containers *out, smp_dir *d, const char *ca_base,
			  smp_error *err);

/* Frees the DNs and clears c; NULL and a cleared c are fine. */
void smp_ca_containers_release(smp_ca_containers *c);

/* Which of the containers an entry was found in. */
typedef enum smp_ca_container_kind {
	SMP_CA_IN_ROOTS = 1,          /* the roots' container (AD: Certification Authorities) */
	SMP_CA_IN_INTERMEDIATES = 2,  /* the intermediates' (AD: AIA) */
	SMP_CA_IN_BOTH = 3            /* one container holds both (OpenLDAP): what a value is
					 follows from the certificate alone */
} smp_ca_container_kind;

/* One CA certificate value found in a container; everything borrowed for the callback. */
typedef struct smp_ca_value {
	const char *dn;                  /* the entry holding it */
	const char *container;           /* the container it is in */
	smp_ca_container_kind in;
	const char *attr;                /* the attribute as the server named it
					    ("cACertificate", "cACertificate;binary",
					    "crossCertificatePair") */
	int cross;                       /* 1: from crossCertificatePair */
	const struct berval *der;        /* the value as stored: DER of a certificate (not
					    checked here: the caller decodes and reports) */
	size_t index;                    /* its place among the entry's values of attr */
} smp_ca_value;

/*
 * Calls fn for every CA certificate value (cACertificate in either form, and
 * crossCertificatePair) of every entry directly below each container of c (a container
 * named twice is walked once, as SMP_CA_IN_BOTH), in the server's order. A missing
 * container holds nothing (no error: OpenLDAP's ou=CAs exists only once something was
 * published). Stops when fn returns non-zero and returns that. Returns 0, SMP_ERR_USAGE for
 * a backend that has no such search (an LDIF export), SMP_ERR_ACCESS when the server refuses
 * the search, or another error with the server's diagnostics.
 */
int smp_dir_ca_walk(smp_dir *d, const smp_ca_containers *c,
		    int (*fn)(const smp_ca_value *v, void *ctx), void *ctx, smp_error *err);


/*
 * Whether the entry dn exists and its values of attr (either form: "cACertificate" reads
 * "cACertificate;binary" too), deep-copied into *values (smp_bervals_free). Returns 0 (a
 * missing entry: *exists 0, no values), or an error as smp_dir_ca_walk.
 */
int smp_dir_ca_read(smp_dir *d, const char *dn, const char *attr, int *exists,
		    struct berval **values, size_t *n, smp_error *err);

/*
 * Every value of attrs (NULL-terminated) the entry dn holds, in the server's order, each
 * with the attribute's name as the server gave it (names[i], values[i]; free both with
 * smp_dir_values_free): what re-creates a CA entry as it is. A missing entry: *exists 0.
 * Returns 0 or an error as smp_dir_ca_walk.
 */
int smp_dir_read_values(smp_dir *d, const char *dn, char **attrs, int *exists, char ***names,
			struct berval **values, size_t *n, smp_error *err);

void smp_dir_values_free(char **names, struct berval *values, size_t n);

/* A value that only holds a place (the one zero byte certutil writes), not a certificate. */
int smp_ca_value_is_placeholder(const struct berval *v);

/* ---- Pure decisions (lib/policy/ca.c) ------------------------------------------------------ */

/* What a CA certificate is, for where it goes. */
typedef enum smp_ca_kind {
	SMP_CA_NOT_CA = 0,       /* no basicConstraints cA (or an X.509 v1 certificate) */
	SMP_CA_ROOT,             /* self-issued and self-signed: a trust anchor */
	SMP_CA_INTERMEDIATE,     /* issued by another CA */
	SMP_CA_CROSS             /* issued by another CA to a CA that is also a root (the same
				    subject and key as a self-signed certificate known) */
} smp_ca_kind;

/* "root", "intermediate", "cross", "not_ca" (static). */
const char *smp_ca_kind_name(smp_ca_kind kind);

/*
 * What x is. known (may be NULL) are the other certificates in view -- the inputs of the
 * run and what the directory already distributes -- against which a certificate issued by
 * another CA is recognised as a cross-certificate: a self-signed certificate in known has
 * its subject and public key. Pure: no I/O, OpenSSL's error queue left empty.
 */
smp_ca_kind smp_ca_classify(X509 *x, STACK_OF(X509) *known);

/*
 * The sanitised short name of MS-WCCE 3.1.1.4.1.1 for name (UTF-8): each disallowed
 * character becomes '!' and its UTF-16 code unit as four lower-case hex digits; a result of
 * more than 51 characters is cut at 51 (never inside a "!xxxx"), and '-' and the 5-digit
 * decimal hash of what was cut (3.1.1.4.1.1.1) are appended. Returns 0 and *out (caller
 * frees); SMP_ERR_BADINPUT for a name that is empty or not UTF-8; SMP_ERR_NOMEM.
 */
int smp_ca_sanitised_name(char **out, const char *name);

/*
 * The common name of the CA x (the last CN of its subject; without one, the subject's last
 * attribute value) as UTF-8. Returns 0 and *out (caller frees); SMP_ERR_BADINPUT when the
 * subject is empty; SMP_ERR_NOMEM.
 */
int smp_ca_common_name(char **out, X509 *x);

/* What a publish of one CA certificate does to its entry. */
typedef enum smp_ca_write {
	SMP_CA_WRITE_NONE = 0,   /* the value is there already: unchanged */
	SMP_CA_WRITE_CREATE,     /* no entry: create it holding the value */
	SMP_CA_WRITE_ADD         /* the entry exists (a renewed CA of the same name): add the
				    value beside the others */
} smp_ca_write;

typedef struct smp_ca_plan {
	smp_ca_write write;
	char *dn;                /* the entry (malloc'd) */
	const char *container;   /* borrowed from the containers */
	const char *attr;        /* the attribute the value goes in (the profile's, static) */
	char *name;              /* the entry's RDN value: the CA name, sanitised where the
				    profile names entries so (malloc'd) */
} smp_ca_plan;

/*
 * Where and how the CA certificate x of kind (not SMP_CA_NOT_CA) goes on a directory of
 * profile p with containers c: roots in c->roots, the rest in c->intermediates; a
 * cross-certificate in p->ca_cross_attr where the profile has one; entries named
 * "cn=<name>" (RFC 4514 escaped by libldap) with the name sanitised when
 * p->ca_sanitised_names. exists / values[0..n): whether that entry exists and the values it
 * holds in plan->attr (see smp_ca_plan_dn to learn the DN first). Returns 0 and fills plan
 * (release with smp_ca_plan_release); SMP_ERR_BADINPUT for a name that cannot be used;
 * SMP_ERR_NOMEM.
 */
int smp_ca_plan_publish(smp_ca_plan *plan, const smp_profile *p, const smp_ca_containers *c,
			X509 *x, const struct berval *der, smp_ca_kind kind, int exists,
			const struct berval *values, size_t n, smp_error *err);

void smp_ca_plan_release(smp_ca_plan *plan);

/*
 * The attributes and values of a new CA entry for plan holding der, in the order written:
 * the profile's classes, cn, the certificate in plan->attr and each required attribute the
 * class needs besides (p->ca_extra_attrs; on AD also cACertificate when the certificate goes
 * into crossCertificatePair) with the value certutil -dspublish writes there: one zero byte.
 * attrs[i] are static, values[i] borrow der or static bytes. Returns the count (at most max).
 */
size_t smp_ca_entry_values(const smp_profile *p, const smp_ca_plan *plan,
			   const struct berval *der, const char **attrs, struct berval *values,
			   size_t max);

/*
 * Marks in marks[0..n) the CAs of cas[0..n) that cert's issuer chain passes through: its
 * issuer (name and signature checked), that one's issuer and so on up to a self-signed one
 * (at most 16 steps). Returns the number marked. Pure.
 */
size_t smp_ca_chain_marks(X509 *cert, X509 *const *cas, size_t n, unsigned char *marks);

/* ---- Engine (lib/exec/ca.c) -------------------------------------------------------------- */

typedef struct smp_ca_publish_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	const char *ca_base;         /* OpenLDAP: the container (NULL: ou=CAs above the base) */
	int root;                    /* roots may be published ... */
	const char *const *root_fingerprints; /* ... each only when its SHA-256 is one of these
						 (hex, colons allowed) ... */
	size_t n_root_fingerprints;
	/* ... or when this says yes (a terminal prompt: 1 yes, 0 no), or NULL */
	int (*confirm_root)(const smp_certinfo *ci, const char *warning, void *ctx);
	int force;                   /* publish despite expiry or critical problems */
	smp_item_fn on_item;
	void *ctx;                   /* for on_item and confirm_root */
} smp_ca_publish_options;

#define SMP_CA_PUBLISH_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, 0, NULL, 0, NULL, 0, NULL, NULL }

/*
 * Publishes every CA certificate in the files at paths[0..n) (certificate files and
 * PKCS#7 bundles: every certificate in them; signed mail: the CA certificates it carries)
 * where clients take their trust from (SPEC §6): classified (smp_ca_classify against the
 * inputs and what the directory distributes), planned (smp_ca_plan_publish), journalled and
 * written through the engine's one apply path; OpenLDAP's container is created when missing.
 * One item per certificate: action "published" / "unchanged" / "would_publish" / "skipped" /
 * "failed", reason "not_ca", "critical_problem", "root_not_confirmed",
 * "insufficient_access" (status 77, nothing written) ... A root's item carries the warning
 * that every member trusts it for every purpose. Returns 0, or an error that stopped the run
 * (the containers cannot be found: err says why).
 */
int smp_ca_publish_paths(smp_session *s, const smp_ca_publish_options *o,
			 const char *const *paths, size_t n, smp_error *err);

typedef struct smp_ca_list_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	const char *ca_base;
	smp_item_fn on_item;         /* one item per CA certificate: action "listed", dn,
					container, cert, ca_kind, chained, attribute */
	void *ctx;
} smp_ca_list_options;

#define SMP_CA_LIST_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, NULL, NULL }

/*
 * Lists the CA certificates the directory distributes, each with how many published contact
 * certificates chain through it (every entry holding a certificate is walked, as audit
 * does). Returns 0 or the error that stopped it.
 */
int smp_ca_list(smp_session *s, const smp_ca_list_options *o, smp_error *err);

typedef struct smp_ca_remove_options {
	unsigned version;            /* SMP_ENGINE_VERSION */
	const char *ca_base;
	const char *fingerprint;     /* SHA-256 of the CA certificate (hex, colons allowed) */
	int force;                   /* remove even while published certificates chain to it */
	smp_item_fn on_item;
	void *ctx;
} smp_ca_remove_options;

#define SMP_CA_REMOVE_OPTIONS_INIT { SMP_ENGINE_VERSION, NULL, NULL, 0, NULL, NULL }

/*
 * Removes the CA certificate with that fingerprint from every entry holding it (the exact
 * value; the entry itself when it was its only certificate), journalled. Refused (skipped,
 * "still_used") while published contact certificates chain to it, unless force. Returns 0,
 * SMP_ERR_USAGE for a fingerprint that is not 64 hex digits, or an error that stopped it.
 */
int smp_ca_remove(smp_session *s, const smp_ca_remove_options *o, smp_error *err);

#ifdef __cplusplus
}
#endif

#endif
