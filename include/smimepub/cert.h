/* smimepub: certificate intake and the facts and problems of one certificate (SPEC §3). */
#ifndef SMIMEPUB_CERT_H
#define SMIMEPUB_CERT_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "smimepub/error.h"
#include "smimepub/problems.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Intake ------------------------------------------------------------------------------- */

/*
 * What one input held: every certificate found, and which of them are leaves (a leaf is a
 * certificate that is not the issuer of another one in the same input; the rest are
 * intermediates). Opaque.
 */
typedef struct smp_bundle smp_bundle;

/*
 * Reads DER, PEM (one or many CERTIFICATE / PKCS7 blocks, text around them ignored), bare base64
 * of a DER certificate (line breaks allowed) or a PKCS#7 certs-only bundle (DER or PEM).
 * Returns 0 and a bundle the caller frees, or SMP_ERR_BADINPUT with the reason in err
 * ("not a certificate", "truncated DER", "PKCS#7 bundle holds no certificate" ...).
 */
int smp_bundle_read(smp_bundle **out, const unsigned char *data, size_t len, smp_error *err);

/* Inputs larger than this (16 MiB) are refused as SMP_ERR_BADINPUT. */
#define SMP_MAX_INPUT (16 * 1024 * 1024)

/*
 * Most certificates in one input (a PEM file, a PKCS#7 bundle, the certificates a signature
 * carries); more are refused as SMP_ERR_BADINPUT ("more than 1000 certificates (a limit)").
 * A PKCS#7 bundle's certificates are counted from its DER before OpenSSL decodes them (about
 * 9 KiB each), and every certificate is compared with every other: a real bundle is a leaf
 * and its chain, a CA store a few hundred.
 */
#define SMP_BUNDLE_MAX_CERTS 1000

/*
 * smp_bundle_read on the contents of the file at path. Returns SMP_ERR_NOFILE when it cannot be
 * read, SMP_ERR_BADINPUT when it holds no certificate; messages name the file
 * ("cannot read 'alice.cer': not a certificate ...").
 */
int smp_bundle_read_file(smp_bundle **out, const char *path, smp_error *err);

/*
 * Reads the whole file at path ("-" = standard input) into *out (NUL-terminated, not counted
 * in *len; caller frees).
 * Returns 0, SMP_ERR_NOFILE, or SMP_ERR_BADINPUT when it is larger than max bytes.
 */
int smp_read_file(unsigned char **out, size_t *len, const char *path, size_t max,
		  smp_error *err);

/* Number of leaves (>= 1 for a bundle returned by smp_bundle_read). */
size_t smp_bundle_leaf_count(const smp_bundle *b);

/* Leaf i, borrowed from the bundle. */
X509 *smp_bundle_leaf(const smp_bundle *b, size_t i);

/* Every certificate in the bundle (leaves included), borrowed: use as untrusted intermediates. */
STACK_OF(X509) *smp_bundle_all(const smp_bundle *b);

void smp_bundle_free(smp_bundle *b);

/* ---- Trust context ------------------------------------------------------------------------ */

typedef struct smp_trust_options {
	const char *ca_file;      /* PEM trust anchors, or NULL */
	const char *ca_dir;       /* hashed directory of anchors, or NULL */
	const char *untrusted_file; /* extra intermediates (any form smp_bundle_read takes) */
	const char *crl_file;     /* PEM or DER CRLs; enables `revoked` */
	time_t at;                /* the moment to judge validity at; 0 = now */
	int warn_days;            /* `expiring` window in days */
	int use_system_store;     /* when no ca_file/ca_dir: 1 = OpenSSL default paths */
	unsigned sources;         /* SMP_TRUST_* bits: which anchor sources judge chains
				     (--trust); 0 = as before there was a choice: ca_file /
				     ca_dir when given, else the system store */
	int crit_days;            /* `expiring_soon` (critical) window in days; 0 = none */
} smp_trust_options;

#define SMP_TRUST_OPTIONS_INIT { NULL, NULL, NULL, NULL, 0, 30, 1, 0, 0 }

/* Anchor sources (smp_trust_options.sources, --trust directory,system,file). */
#define SMP_TRUST_SYSTEM 0x1u     /* the system store (OpenSSL's default paths) */
#define SMP_TRUST_FILE 0x2u       /* ca_file / ca_dir */
#define SMP_TRUST_DIRECTORY 0x4u  /* what the directory distributes (smp_trust_load_directory) */

/*
 * Where one CA certificate came from (bits; a certificate can come from several). The
 * directory's and the local files' are remembered per certificate; the system store's is
 * asked when a chain is built.
 */
#define SMP_SOURCE_DIRECTORY 0x01u  /* the directory distributes it (a root or an intermediate) */
#define SMP_SOURCE_SYSTEM 0x02u     /* the system store holds it */
#define SMP_SOURCE_FILE 0x04u       /* a local anchor: ca_file or ca_dir */
#define SMP_SOURCE_UNTRUSTED 0x08u  /* the local untrusted_file of intermediates */
#define SMP_SOURCE_CARRIED 0x10u    /* it came with the certificate judged (a bundle, a signed
				       message, a userSMIMECertificate PKCS#7) */

/* Anchors, intermediates, CRLs and the evaluation time. Opaque. */
typedef struct smp_trust smp_trust;

/*
 * Loads what options names. With SMP_TRUST_DIRECTORY in opts->sources, the directory's CAs
 * come later, from smp_trust_load_directory once a connection is made. Returns 0,
 * SMP_ERR_NOFILE when a named file is missing, SMP_ERR_BADINPUT when it cannot be read as
 * certificates / CRLs, or SMP_ERR_USAGE when sources names file without ca_file / ca_dir,
 * or ca_file / ca_dir are given and sources leaves file out (they would be silently unused).
 */
int smp_trust_new(smp_trust **out, const smp_trust_options *opts, smp_error *err);

/* The SMP_TRUST_* sources that judge chains (the default resolved). */
unsigned smp_trust_sources(const smp_trust *t);

/*
 * Adds the CA certificate x (a reference is taken) from source (one SMP_SOURCE_* bit) to t:
 * as a trust anchor when anchor, else as an untrusted intermediate for path building. file:
 * the local file it was read from (copied; NULL when none). Remembered for
 * smp_trust_source_of. Returns 0 or SMP_ERR_NOMEM.
 */
int smp_trust_add_ca(smp_trust *t, X509 *x, unsigned source, int anchor, const char *file,
		     smp_error *err);

/*
 * Every SMP_SOURCE_* that provides x to t (0 when none): the directory's and the local
 * files' as added, the system store when it is one of t's sources and holds x. *file (may
 * be NULL) is set to the local file it was read from, borrowed from t, or NULL.
 */
unsigned smp_trust_source_of(const smp_trust *t, X509 *x, const char **file);

/* What smp_trust_load_directory found. */
typedef struct smp_trust_dir_report {
	size_t anchors;        /* roots taken as trust anchors */
	size_t intermediates;  /* intermediates and cross-certificates for path building */
	size_t skipped;        /* values that are not certificates, or not CA certificates */
	char *roots_dn;        /* the containers read (malloc'd; the same DN twice on OpenLDAP) */
	char *intermediates_dn;
} smp_trust_dir_report;

/* Frees the report's strings and clears it. */
void smp_trust_dir_report_release(smp_trust_dir_report *rep);

struct smp_dir;

/*
 * Reads the CA certificates the directory d distributes (ca.h: smp_dir_ca_containers with
 * ca_base, smp_dir_ca_walk) into t as SMP_SOURCE_DIRECTORY: on Active Directory each value
 * in the roots' container (Certification Authorities) is a trust anchor -- Windows puts them
 * into every member's Trusted Root store -- and each in the intermediates' (AIA) an
 * untrusted intermediate; where one container holds both (OpenLDAP's pkiCA entries), a
 * self-signed CA certificate is an anchor and any other an intermediate. A value that is
 * not a CA certificate is skipped and counted. rep (may be NULL) says what was found
 * (release it). Returns 0; SMP_ERR_USAGE when d cannot search (an LDIF export) or the
 * containers cannot be named; SMP_ERR_ACCESS, SMP_ERR_NOMEM or the directory's error.
 */
int smp_trust_load_directory(smp_trust *t, struct smp_dir *d, const char *ca_base,
			     smp_trust_dir_report *rep, smp_error *err);

/* The moment findings are judged at (options' `at`, or the time smp_trust_new ran). */
time_t smp_trust_time(const smp_trust *t);

/* The `expiring` window in days. */
int smp_trust_warn_days(const smp_trust *t);

/* The `expiring_soon` window in days (0: none). */
int smp_trust_crit_days(const smp_trust *t);

/* The trust anchors, borrowed (e.g. for CMS signature verification). */
X509_STORE *smp_trust_store(const smp_trust *t);

/* Extra intermediates read from untrusted_file, borrowed (empty stack when none). */
STACK_OF(X509) *smp_trust_untrusted(const smp_trust *t);

/* CRLs read from crl_file, borrowed, or NULL when none was given. */
STACK_OF(X509_CRL) *smp_trust_crls(const smp_trust *t);

/* SHA-256, fetched once per trust context, borrowed. */
const EVP_MD *smp_trust_sha256(const smp_trust *t);

void smp_trust_free(smp_trust *t);

/*
 * Parses TIME as RFC 3339 (2026-06-01T00:00:00Z, offsets allowed) or YYYY-MM-DD (midnight UTC).
 * Returns 0 and *out, or SMP_ERR_USAGE.
 */
int smp_parse_time(time_t *out, const char *text, smp_error *err);

/* Formats t as RFC 3339 UTC ("2026-06-01T00:00:00Z") into buf (at least 21 bytes). */
void smp_format_time(char *buf, size_t size, time_t t);

/* ---- Facts about one certificate ---------------------------------------------------------- */

/* One CA of a verified chain and where it came from. */
typedef struct smp_chain_ca {
	char *subject;          /* RFC 2253 form */
	char *name;             /* its CN, or the whole subject when it has none */
	char sha256[65];        /* lower-case hex of the DER */
	int root;               /* self-signed (the chain's anchor is one, or a partial anchor) */
	int anchor;             /* the chain's last certificate: the trust anchor */
	unsigned sources;       /* SMP_SOURCE_* bits */
	char *file;             /* the local file it came from (ca_file, untrusted_file), or NULL */
} smp_chain_ca;

typedef struct smp_certinfo {
	X509 *x509;             /* owned reference */
	char *subject;          /* RFC 2253 form */
	char *issuer;           /* RFC 2253 form */
	char *issuer_cn;        /* issuer's CN, or the whole issuer when it has none */
	char *serial;           /* lower-case hex, no separators */
	char sha256[65];        /* lower-case hex of the DER */
	char **emails;          /* usable mailbox addresses, normalised (SPEC §3 order) */
	size_t n_emails;
	int address_from_cn;    /* emails[0] came from the subject CN */
	time_t not_before;
	time_t not_after;
	char key_type[8];       /* "RSA", "EC", "DSA", "Ed25519", ... */
	int key_bits;
	char *signature;        /* signature algorithm, OpenSSL long name */
	int can_encrypt;        /* keyUsage + EKU allow encryption */
	int can_sign;           /* keyUsage + EKU allow signing */
	int email_protection;   /* EKU absent, or has emailProtection / anyExtendedKeyUsage */
	int is_ca;
	int chain_ok;           /* a path to a trust anchor was built and verified */
	char *aia_ca_issuers;   /* first AIA caIssuers URL, or NULL */
	smp_problem *problems;
	size_t n_problems;
	smp_chain_ca *chain;    /* when chain_ok: the CAs of the verified path, the issuer first
				   and the anchor last, each with where it came from */
	size_t n_chain;
} smp_certinfo;

/*
 * Collects the facts and every problem that can be decided without a directory for leaf,
 * with extra (may be NULL) as untrusted intermediates, judged by trust. Findings are data in
 * the result, not errors. Returns 0 and a certinfo the caller frees, or SMP_ERR_NOMEM /
 * SMP_ERR_INTERNAL.
 */
int smp_cert_analyze(smp_certinfo **out, X509 *leaf, STACK_OF(X509) *extra,
		     const smp_trust *trust, smp_error *err);

/*
 * smp_cert_analyze for a leaf whose DER encoding (from i2d_X509) the caller holds in der/len:
 * its SHA-256 is taken from those bytes instead of encoding leaf once more.
 */
int smp_cert_analyze_encoded(smp_certinfo **out, X509 *leaf, STACK_OF(X509) *extra,
			     const unsigned char *der, size_t len, const smp_trust *trust,
			     smp_error *err);

/*
 * Same for a DER value as read from a directory. A value that is not a certificate gives
 * SMP_ERR_BADINPUT (callers report it as `malformed`).
 */
int smp_cert_analyze_der(smp_certinfo **out, const unsigned char *der, size_t len,
			 const smp_trust *trust, smp_error *err);

/*
 * smp_cert_analyze_der that also gives the SHA-256 of the value's bytes as lower-case hex in
 * sha256 (filled even when the value is not a certificate, unless an internal error occurs);
 * the bytes are hashed once for both.
 */
int smp_cert_analyze_value(smp_certinfo **out, char sha256[65], const unsigned char *der,
			   size_t len, const smp_trust *trust, smp_error *err);

/* Appends a problem (severity from the code's row in problems.h). Returns 0 or SMP_ERR_NOMEM. */
int smp_certinfo_add_problem(smp_certinfo *ci, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same, with the remedy the front end renders after the message. */
int smp_certinfo_add_problem_with(smp_certinfo *ci, const char *code, smp_remedy remedy,
				  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The problem with that code, or NULL. */
const smp_problem *smp_certinfo_problem(const smp_certinfo *ci, const char *code);

/* Highest severity among the problems (SMP_SEV_NONE when there are none). */
smp_severity smp_certinfo_worst(const smp_certinfo *ci);

/* Whether ci lists addr (normalised comparison): 1, 0, or -1 when out of memory (an
 * allocation failure is not a mismatch). */
int smp_certinfo_has_email(const smp_certinfo *ci, const char *addr);

void smp_certinfo_free(smp_certinfo *ci);

/* ---- Names as directory DNs --------------------------------------------------------------- */

/*
 * The directory DN an X.509 name is, as certutil -dspublish tries a certificate's subject
 * when no entry has its address (SPEC §4): built from the decoded name, never from display
 * text. RDNs in LDAP order (the DER's last RDN first), a multi-valued RDN's AVAs joined by
 * '+' in DER order, values as UTF-8 (ASN1_STRING_to_UTF8), attribute types as Active
 * Directory and OpenLDAP both name them (CN, L, ST, O, OU, C, STREET, DC, UID, sn,
 * serialNumber, title, description, businessCategory, postalCode, postOfficeBox, givenName,
 * initials, generationQualifier) and any other type -- emailAddress too, which AD lacks -- as
 * its dotted OID (RFC 4514 §2.3). The string is RFC 4514 as libldap writes it
 * (ldap_dn2str, LDAPv3, UTF-8 kept): metacharacters escaped as hex pairs ("CN=Smith\2C
 * John"), which every directory reads as "CN=Smith\, John".
 * Returns 0 and a string the caller frees, with *out NULL for an empty name (it names no
 * entry); SMP_ERR_BADINPUT when a value has no UTF-8 text (not a string type, or bytes its
 * own encoding forbids: no directory DN can hold it); SMP_ERR_NOMEM.
 */
int smp_name_to_dn(char **out, const X509_NAME *name, smp_error *err);

/* ---- Mailbox addresses -------------------------------------------------------------------- */

/*
 * Normalises a mailbox address: rejects embedded NUL, invalid UTF-8, a missing or misplaced
 * '@'; lower-cases the domain and converts an internationalised domain to its A-label
 * (libidn2). The local part is kept as is. Returns 0 and a string the caller frees, or
 * SMP_ERR_BADINPUT with the reason.
 */
int smp_address_normalize(char **out, const char *in, size_t len, smp_error *err);

/*
 * The Unicode form of a normalised address whose domain has A-labels ("xn--"): the domain's
 * U-labels (libidn2), the local part as is; smp_address_normalize of it gives the address
 * back. Directories store addresses as they were typed, so a search for an internationalised
 * address asks for both forms. Returns 0 with *out NULL when the domain has no A-label, does
 * not decode or does not normalise back; 0 and a string the caller frees; or SMP_ERR_NOMEM.
 */
int smp_address_unicode(char **out, const char *normalized, smp_error *err);

/*
 * Whether a normalised address (smp_address_normalize) is a mailbox a recipient can have:
 * RFC 5321's Mailbox with RFC 6531's UTF-8 local parts -- a Dot-string or Quoted-string of at
 * most 64 octets, '@', an Internet domain of two or more LDH labels (A-label form), 254
 * octets in all; no address literal. What it lets through may still hold filter and DN
 * metacharacters the RFCs allow ('*', '=', '+'): they are escaped wherever they go. Returns 0,
 * or SMP_ERR_BADINPUT with the reason.
 */
int smp_address_check_mailbox(const char *addr, smp_error *err);

/* 1 when two normalised addresses name the same mailbox (case-insensitive), else 0. */
int smp_address_equal(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif
