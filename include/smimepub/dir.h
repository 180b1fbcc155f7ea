/* smimepub: directory access (SPEC §4): connection, profiles, matching, exact-value writes. */
#ifndef SMIMEPUB_DIR_H
#define SMIMEPUB_DIR_H

#include <stddef.h>

#include <lber.h>

#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Profiles: data, not code ------------------------------------------------------------- */

/* Where the value of a recipient attribute (smp_recipient_attr) comes from. */
typedef enum smp_recipient_value {
	SMP_RECIPIENT_CONSTANT = 0,   /* value, as it is */
	SMP_RECIPIENT_ALIAS,          /* smp_exchange_alias of the contact's name */
	SMP_RECIPIENT_ADDRESS_LISTS   /* the DNs of Exchange's built-in address lists that hold
					 every mail contact, where the directory has them */
} smp_recipient_value;

/* One attribute Exchange's New-MailContact sets on an external mail contact. */
typedef struct smp_recipient_attr {
	const char *attr;
	smp_recipient_value kind;
	const char *value;           /* SMP_RECIPIENT_CONSTANT */
} smp_recipient_attr;

/*
 * Everything that differs between kinds of directory, as data: code reads these fields and
 * never compares a profile's name (which is for display only). A caller may define its own
 * profile and give it to smp_dir_open_ldif_ex / smp_conn_options.profile.
 */
typedef struct smp_profile {
	const char *name;            /* for display: "ad", "rfc" */
	const char *cert_attr;       /* attribute written: "userCertificate" (AD refuses the
					;binary option) / "userCertificate;binary" (OpenLDAP
					refuses writes without it) */
	const char *contact_class;   /* the structural objectClass of a created contact */
	const char *const *contact_classes; /* all its objectClass values, NULL-terminated */
	const char *const *match_attrs; /* attributes compared with an address ("mail",
					   "proxyAddresses"), NULL-terminated */
	const char *proxy_prefix;    /* "smtp:" for proxyAddresses, or NULL when not used */
	int write_target_address;    /* set targetAddress on created contacts */
	int write_proxy_addresses;   /* set proxyAddresses "SMTP:addr" on created contacts */
	int write_sn;                /* created contacts need sn (inetOrgPerson) */
	const char *walk_filter;     /* entries that hold a certificate */
	int max_page_size;           /* largest page the server accepts, 0 = no limit */
	const char *rdn_attr;        /* attribute type of a created contact's RDN: "CN" / "cn" */
	size_t max_value_size;       /* largest attribute value the server stores, 0 = no limit */
	const char *root_dse_capability; /* supportedCapabilities OID announcing this kind of
					    server (auto), or NULL */
	const char *const *export_markers; /* attributes only this kind of directory has, whose
					      presence in an export identifies it (auto), or NULL */
	const char *const *recipientless_partitions; /* RDNs ("CN=Configuration") of naming
							contexts the server refers subtree searches
							to that hold no mail recipients, or NULL */
	const char *recipient_marker; /* the attribute that, where contact_class may hold it,
					 shows Exchange's recipient schema (AD:
					 msExchRecipientTypeDetails), or NULL: no Exchange */
	const smp_recipient_attr *recipient_attrs; /* what a created contact gets where the
						      marker is there, each only where
						      contact_class may hold it; ends with a
						      NULL attr. NULL: none */
	/* Partner CAs (SPEC §6, ca.h). Where clients take them from: */
	const char *ca_root_dse_attr;  /* the root DSE attribute naming the partition the CA
					  containers are in ("configurationNamingContext"),
					  or NULL: both containers are the --ca-base */
	const char *ca_roots_rdns;     /* the roots' container relative to that partition */
	const char *ca_intermediates_rdns; /* the intermediates' and cross-certificates' */
	const char *ca_default_base_rdn; /* without ca_root_dse_attr: the --ca-base default,
					    this RDN above the search base ("ou=CAs") */
	const char *ca_cert_attr;      /* attribute written: "cACertificate" (AD) /
					  "cACertificate;binary" (OpenLDAP requires it) */
	const char *ca_cross_attr;     /* where a cross-certificate goes ("crossCertificatePair"),
					  or NULL: with the other CA certificates */
	const char *const *ca_classes; /* objectClass values of a CA entry, NULL-terminated */
	const char *const *ca_extra_attrs; /* attributes the class requires besides cn and the
					      certificate, written once with an empty-CRL
					      value (see smp_ca_entry_plan), NULL-terminated,
					      or NULL */
	int ca_sanitised_names;        /* 1: entries named by the sanitised short CA name of
					  MS-WCCE 3.1.1.4.1.1 (smp_ca_sanitised_name); 0: by
					  the CA's common name as it is */
} smp_profile;

extern const smp_profile smp_profile_ad;
extern const smp_profile smp_profile_rfc;

/* The profiles smimepub knows, NULL-terminated; the last one is the default for auto. */
extern const smp_profile *const smp_profiles[];

/*
 * The known profile whose export_markers hold attr (case-insensitively), or NULL: what an
 * export holding attr comes from.
 */
const smp_profile *smp_profile_for_export_attr(const char *attr);

/* ---- Connection --------------------------------------------------------------------------- */

typedef enum smp_schema { SMP_SCHEMA_AUTO = 0, SMP_SCHEMA_AD, SMP_SCHEMA_RFC } smp_schema;

/* The profile schema names: smp_profile_ad, smp_profile_rfc, or NULL for SMP_SCHEMA_AUTO. */
const smp_profile *smp_profile_for_schema(smp_schema schema);

typedef struct smp_conn_options {
	const char *uri;        /* -H; NULL = ldap.conf / .ldaprc default */
	const char *base;       /* -b; NULL = ldap.conf BASE, else the root DSE's naming context */
	const char *binddn;     /* -D */
	const char *password;   /* from -y / -W / SMIMEPUB_PASSWORD; never from argv */
	const char *saslmech;   /* -Y: EXTERNAL, GSSAPI ... */
	int starttls;           /* -Z: 1 try, 2 require */
	int insecure;           /* allow a simple bind with password in clear to a non-loopback host */
	smp_schema schema;
	int page_size;          /* paged results page size (default 500) */
	int timeout;            /* network timeout in seconds (default 30) */
	int verbose;
	const char *tls_cacert; /* CA file for the server's certificate; NULL = ldap.conf
				   TLS_CACERT / LDAPTLS_CACERT */
	const smp_profile *profile; /* used instead of schema when not NULL (borrowed: must
				       outlive the connection) */
} smp_conn_options;

#define SMP_CONN_OPTIONS_INIT { NULL, NULL, NULL, NULL, NULL, 0, 0, SMP_SCHEMA_AUTO, 500, 30, 0, NULL, NULL }

/* An open, bound connection. Opaque. */
typedef struct smp_dir smp_dir;

/*
 * Connects, applies TLS, binds and picks the profile (root DSE for auto). Returns 0, or
 * SMP_ERR_UNAVAILABLE (server down, TLS failure), SMP_ERR_ACCESS (bind refused),
 * SMP_ERR_USAGE (refused plaintext bind to a non-loopback host). On an LDAP error the message
 * carries the result code, the server's diagnostic message and the matched DN.
 */
int smp_dir_open(smp_dir **out, const smp_conn_options *opts, smp_error *err);

const smp_profile *smp_dir_profile(const smp_dir *d);
const char *smp_dir_base(const smp_dir *d);

/* The URI actually connected to (after ldap.conf defaults). Owned by d. */
const char *smp_dir_uri(const smp_dir *d);

/*
 * A warning from smp_dir_open for the user (e.g. StartTLS failed with -Z and the connection
 * went on in clear), or NULL. Owned by d.
 */
const char *smp_dir_warning(const smp_dir *d);

/* What the user can do about smp_dir_warning, for the front end to say (SMP_HINT_NONE). */
smp_hint smp_dir_warning_hint(const smp_dir *d);

/* The result code of the last LDAP operation on d (LDAP_SUCCESS, LDAP_NO_SUCH_ATTRIBUTE ...). */
int smp_dir_last_result(const smp_dir *d);

/*
 * The underlying libldap handle, for callers that need an operation not wrapped here; NULL
 * for an LDIF export.
 */
struct ldap *smp_dir_ldap(smp_dir *d);

/*
 * Whether every URI in the space-separated list uri is local: ldapi://, or ldap:// / ldaps://
 * to 127.0.0.0/8, ::1, localhost or an empty host. Returns 1 or 0 (0 also for a bad URI).
 * smp_dir_open refuses a simple bind with a password in clear unless this holds.
 */
int smp_dir_uri_is_local(const char *uri);

/* How smp_dir_open_ldif_ex opens an export. */
typedef struct smp_ldif_options {
	smp_schema schema;          /* AUTO: from the export, see smp_dir_open_ldif */
	const smp_profile *profile; /* used instead of schema when not NULL (borrowed: must
				       outlive the directory) */
	const char *base;           /* NULL: from the export, see smp_dir_open_ldif */
	int walk_only;              /* 1: for smp_dir_walk alone, see smp_dir_open_ldif_ex */
} smp_ldif_options;

#define SMP_LDIF_OPTIONS_INIT { SMP_SCHEMA_AUTO, NULL, NULL, 0 }

/*
 * Opens the LDIF export at path ("-" = standard input) as a read-only directory: every entry
 * is read once with smp_ldif_walk_stream and indexed (its place in the file, its DN and
 * addresses; the entry is read again when a search returns it), so a dry run plans against
 * the export exactly as against a server (SPEC §2 publish). Memory grows with the addresses
 * and DNs, not with the certificates.
 * schema AUTO picks the profile whose export_markers the export holds (ad for objectGUID,
 * objectSid, objectCategory, sAMAccountName, instanceType: ldifde and full ldapsearch exports
 * of AD), else rfc; smp_dir_warning then says when that guess is weak (proxyAddresses
 * without any of them). base (NULL = from the export: the deepest DN every entry is at or
 * under, the parent of a lone entry with an address) limits address searches and the walk
 * as a server's search base does. Addresses match as smp_entry_has_address says (through
 * the profile's match_attrs), DNs after RFC 4514 normalisation, case-insensitively;
 * smp_dir_walk goes over the entries holding a certificate, in file order. Writes,
 * operations in flight and reconnecting fail with SMP_ERR_USAGE ("the LDIF export is
 * read-only"). Returns 0; SMP_ERR_NOFILE when path cannot be read; SMP_ERR_BADINPUT (with
 * the line) for malformed LDIF; SMP_ERR_USAGE for a base that is not a DN.
 */
int smp_dir_open_ldif(smp_dir **out, const char *path, smp_schema schema, const char *base,
		      smp_error *err);

/*
 * smp_dir_open_ldif with options. With walk_only, nothing is read at open (only path opened:
 * SMP_ERR_NOFILE) and nothing is indexed: smp_dir_walk streams the file, one entry in memory
 * at a time, whatever its size, handing out each entry as it is read, so a malformed record
 * stops the walk (SMP_ERR_BADINPUT) after the entries before it. Entries outside an explicit
 * base are skipped. Standard input can then be walked once. The profile of schema AUTO is
 * rfc until a walk meets an export marker (then ad, as smp_dir_open_ldif would have said).
 * smp_dir_base is the explicit base or NULL; smp_dir_find_by_address and smp_dir_read fail
 * with SMP_ERR_USAGE. This is audit's way through an export (SPEC §2 audit).
 */
int smp_dir_open_ldif_ex(smp_dir **out, const char *path, const smp_ldif_options *opts,
			 smp_error *err);

void smp_dir_close(smp_dir *d);

/*
 * Drops the connection (and every operation in flight on it) and opens a new one to the same
 * URI with the options smp_dir_open was given (StartTLS, bind; profile and base are kept).
 * Returns 0, or an error as smp_dir_open does (SMP_ERR_UNAVAILABLE while the server is down).
 */
int smp_dir_reconnect(smp_dir *d, smp_error *err);

/*
 * Clears (explicit_bzero) and frees the copy of the bind password that smp_dir_open keeps for
 * smp_dir_reconnect, as soon as the caller knows no reconnect can need it (smp_dir_close does
 * it at the latest). Afterwards smp_dir_reconnect of a connection that was bound with a
 * password fails with SMP_ERR_UNAVAILABLE; the open connection itself is unaffected. The copy
 * lives in smp_secret_alloc memory (secret.h). Accepts NULL and connections without one.
 */
void smp_dir_forget_password(smp_dir *d);

/* ---- Entries ------------------------------------------------------------------------------ */

/*
 * What an entry holds that matters here; values in the server's order. Every string, value and
 * array is malloc'd (arrays carry one extra zeroed element at the end); smp_entry_free frees.
 */
typedef struct smp_entry {
	char *dn;
	char *cn;
	char **mail;                 /* mail values */
	size_t n_mail;
	char **proxy;                /* proxyAddresses values, raw ("SMTP:a@b", "X500:...") */
	size_t n_proxy;
	struct berval *certs;        /* userCertificate values (both attribute forms merged) */
	size_t n_certs;
	char **cert_attrs;           /* for each value, the attribute name it came in */
	struct berval *smime;        /* userSMIMECertificate values */
	size_t n_smime;
} smp_entry;

void smp_entry_free(smp_entry *e);

/* Frees an array of n entries and the array. */
void smp_entries_free(smp_entry **v, size_t n);

/* A deep copy of e into *out (caller frees with smp_entry_free). Returns 0 or SMP_ERR_NOMEM. */
int smp_entry_dup(smp_entry **out, const smp_entry *e);

/*
 * A deep copy of the n values v[0..n) (each buffer NUL-terminated past bv_len, the array
 * zero-terminated), freed with smp_bervals_free; NULL when out of memory.
 */
struct berval *smp_bervals_dup(const struct berval *v, size_t n);

/* Frees n values and the array (NULL is fine). */
void smp_bervals_free(struct berval *v, size_t n);

/*
 * Whether the entry's mail or proxyAddresses (smtp: values) hold addr, case-insensitively.
 * Returns 2 when through mail, 1 through proxyAddresses only, 0 not at all, or SMP_ERR_NOMEM
 * (never a silent "not at all").
 */
int smp_entry_has_address(const smp_entry *e, const char *addr);

/*
 * Calls fn with each address smp_entry_has_address compares: every mail value (how 2), then
 * every proxyAddresses value with the smtp: prefix (any case) without it (how 1), each
 * normalised by smp_address_normalize (borrowed for the call); values that are not well-formed
 * addresses are skipped. Stops at fn's first non-zero return and returns it, else 0;
 * SMP_ERR_NOMEM when a value could not be normalised for lack of memory.
 */
int smp_entry_each_address(const smp_entry *e, int (*fn)(const char *addr, int how, void *ctx),
			   void *ctx);

/*
 * Every entry whose mail or proxyAddresses (smtp:) equals addr under the profile, escaped per
 * RFC 4515. Returns 0 with *out (n may be 0), or an error.
 */
int smp_dir_find_by_address(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			    smp_error *err);

/* Reads one entry by DN. SMP_ERR_NOTFOUND when it does not exist. */
int smp_dir_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err);

/* One exact-value change of an attribute. */
typedef struct smp_change {
	const char *attr;            /* attribute description to write */
	struct berval *del;          /* exact values to delete, in order */
	size_t n_del;
	struct berval *add;          /* values to add, in order */
	size_t n_add;
} smp_change;

/*
 * Applies all changes in ONE modify operation (deletes before adds). Returns 0;
 * SMP_ERR_CONFLICT when a value to delete is gone or one to add is already there (someone else
 * changed the entry: re-read and re-plan); SMP_ERR_ACCESS on insufficient access; other errors
 * with the server's diagnostics.
 */
int smp_dir_modify(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
		   smp_error *err);

/*
 * The DN smp_dir_create_contact gives a contact named cn under ou (NULL = the base): the RDN
 * of the profile's rdn_attr ("CN=cn" on Active Directory, "cn=cn"), escaped per RFC 4514. Returns 0 and *out
 * (caller frees), SMP_ERR_USAGE when there is no parent or it is not a DN, SMP_ERR_BADINPUT
 * when cn cannot be put into a DN.
 */
int smp_dir_contact_dn(const smp_dir *d, const char *ou, const char *cn, char **out,
		       smp_error *err);

/* Most attribute values a contact is created with. */
#define SMP_CONTACT_MAX_VALUES 32

/*
 * A contact to create: its DN and every attribute value it gets, in the order they are
 * written. The ONE description of a new contact: a dry run prints it (smp_ldif_write_add of
 * attrs/values) and a real run adds exactly it (smp_dir_add_contact), so the two never differ.
 */
typedef struct smp_contact {
	char *dn;                                   /* owned */
	size_t n;
	const char *attrs[SMP_CONTACT_MAX_VALUES];  /* attribute of value i (static names) */
	struct berval values[SMP_CONTACT_MAX_VALUES]; /* value i (owned) */
	int exchange;  /* 1: it is an Exchange mail contact (the profile's recipient_attrs are
			  written); 0: the profile knows Exchange but this directory's schema
			  does not show it (or cannot be read), so it is no Exchange recipient
			  yet; -1: the profile has no Exchange (OpenLDAP) */
} smp_contact;

/*
 * What a mail-enabled contact for addr named cn under ou (NULL = the base) holds on d: the
 * profile's object classes, cn, sn (the last word of cn, where the profile needs it),
 * displayName, mail, proxyAddresses "SMTP:addr" and targetAddress "SMTP:addr" where the
 * profile writes them; targetAddress only where the schema lets a contact hold it (Exchange's
 * schema extension: Samba and an AD without Exchange have none). Where the schema lets the
 * contact hold the profile's recipient_marker (Exchange's recipient schema), also each of
 * the profile's recipient_attrs the contact may hold (AD: what New-MailContact sets for an
 * external contact, see doc/smimepub.1 "EXCHANGE MAIL CONTACTS"), and c->exchange says
 * which. When the schema cannot be read (an LDIF export), targetAddress follows the profile
 * and no recipient attribute is written. Returns 0 and *out (free with smp_contact_free),
 * SMP_ERR_BADINPUT without a name or an address, or smp_dir_contact_dn's errors.
 */
int smp_dir_contact_new(smp_contact **out, smp_dir *d, const char *ou, const char *cn,
			const char *addr, smp_error *err);

void smp_contact_free(smp_contact *c);

/*
 * Adds the contact c (from smp_dir_contact_new on d). Returns 0; SMP_ERR_CONFLICT when the
 * DN exists; SMP_ERR_USAGE on a backend that cannot write (an LDIF export).
 */
int smp_dir_add_contact(smp_dir *d, const smp_contact *c, smp_error *err);

/*
 * dn as a person reads it (text, JSON and CSV output): RFC 4514 with specials escaped by a
 * backslash where libldap can write them so ("CN=Smith\, John", also for slapd, which returns
 * "cn=Smith\2C John"), UTF-8 as is; the same entry's DN, never another. Malloc'd (caller
 * frees); dn itself when it is not a DN; NULL only for NULL or out of memory.
 */
char *smp_dn_display(const char *dn);

/*
 * Deletes the entry dn (undo of a contact's creation). Returns 0, SMP_ERR_NOTFOUND, or the
 * errors of smp_dir_modify.
 */
int smp_dir_delete(smp_dir *d, const char *dn, smp_error *err);

/*
 * Who d is bound as, for journal records: the bind DN, the SASL identity ("name (SASL
 * GSSAPI)"), or "anonymous"; an LDIF export names itself. Malloc'd (caller frees), NULL when
 * out of memory.
 */
char *smp_dir_identity(smp_dir *d);

/*
 * The DN of the one entry below the base whose attr equals value (RFC 4515 escaped): how a
 * login name that is not a DN ("jdoe" with attr "uid") becomes one to bind as, on a
 * connection that may be anonymous. 0 and *dn (malloc'd); SMP_ERR_ACCESS when none or several
 * match or the search is refused (one answer for all, as a login should give), SMP_ERR_USAGE
 * when attr is not an attribute name, SMP_ERR_NOMEM.
 */
int smp_dir_find_login(smp_dir *d, const char *attr, const char *value, char **dn,
		       smp_error *err);

/*
 * smp_dir_contact_new + smp_dir_add_contact. Returns 0 and, when dn_out is not NULL, *dn_out
 * (caller frees); SMP_ERR_CONFLICT when the DN exists.
 */
int smp_dir_create_contact(smp_dir *d, const char *ou, const char *cn, const char *addr,
			   char **dn_out, smp_error *err);

/*
 * Whether the directory's schema defines the attribute: 1 yes, 0 no, -1 unknown (the schema
 * cannot be read, or the backend has none).
 */
int smp_dir_schema_has_attribute(smp_dir *d, const char *attr);

/*
 * Whether an entry of the structural class cls may hold attr by the directory's schema (its
 * classes, superclasses and DIT content rules: Active Directory's auxiliary classes): 1 yes,
 * 0 no, -1 unknown (the schema cannot be read, or the backend has none).
 */
int smp_dir_class_may_hold(smp_dir *d, const char *cls, const char *attr);

/*
 * The alias (mailNickname) Exchange gives a recipient created without -Alias from its Name:
 * spaces removed, a character an alias cannot hold turned into '?', at most 64 characters.
 * Alias characters (New-MailContact, -Alias): ASCII letters and digits,
 * ! # $ % & ' * + - / = ? ^ _ ` { | } ~, U+00A1..U+00FF, and '.' between other characters (a
 * leading, trailing or repeated '.' is dropped). name is UTF-8; bytes that are not are
 * characters an alias cannot hold. When nothing is left, the same is made of the local part
 * of addr. Returns 0 and *out (caller frees), or SMP_ERR_NOMEM.
 */
int smp_exchange_alias(char **out, const char *name, const char *addr);

/*
 * Calls fn for each entry under the base that holds a certificate (userCertificate or
 * userSMIMECertificate), with paged results (an export: in file order, see
 * smp_dir_open_ldif); entries are freed after fn returns. Referrals are passed to
 * on_referral (may be NULL). Stops when fn returns non-zero and returns that.
 */
int smp_dir_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
		 void (*on_referral)(const char *url, void *ctx), void *ctx, smp_error *err);

/*
 * 1 when url (a referral from a search of d) names one of the profile's
 * recipientless_partitions: on Active Directory the configuration partition
 * (CN=Configuration,...) or the DNS application partitions (DC=DomainDnsZones,... and
 * DC=ForestDnsZones,...), where every subtree search from a domain's root is referred. 0 for
 * any other referral, for a URL that does not parse, and for a profile without such
 * partitions.
 */
int smp_dir_referral_is_ad_partition(const smp_dir *d, const char *url);

/* ---- Operations in flight (bulk publish, prune) --------------------------------------------------- */

/*
 * Sends ONE subtree search for every entry matching any of addrs[0..n) (mail or
 * proxyAddresses smtp:, each value escaped per RFC 4515) and returns at once with its message
 * id. Entries and the final result come from smp_dir_next_reply. Returns 0, or an error
 * (SMP_ERR_UNAVAILABLE when the connection is gone).
 */
int smp_dir_find_addresses_send(smp_dir *d, const char *const *addrs, size_t n, int *msgid,
				smp_error *err);

/*
 * 1 when a base search's result code says there is no such entry (LDAP_NO_SUCH_OBJECT,
 * LDAP_INVALID_DN_SYNTAX, LDAP_REFERRAL): smp_dir_read's SMP_ERR_NOTFOUND. Else 0.
 */
int smp_dir_rc_no_entry(int rc);

/*
 * Sends the base search smp_dir_read makes for dn and returns at once with its message id:
 * the entry (if any) and the final result come from smp_dir_next_reply; a result code for
 * which smp_dir_rc_no_entry is 1 means no such entry. Returns 0 or an error
 * (SMP_ERR_UNAVAILABLE: not sent).
 */
int smp_dir_read_send(smp_dir *d, const char *dn, int *msgid, smp_error *err);

/*
 * Sends the ONE modify smp_dir_modify would apply and returns at once with its message id;
 * changes may be freed afterwards. Returns 0 or an error (SMP_ERR_UNAVAILABLE: not sent).
 */
int smp_dir_modify_send(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
			int *msgid, smp_error *err);

/* One message for an operation in flight. */
typedef struct smp_dir_reply {
	int msgid;
	int done;            /* 1: the operation's final result; 0: a search entry */
	int rc;              /* done: the LDAP result code */
	int code;            /* done: 0, or the smp code for rc as smp_dir_modify / a search
				gives it (SMP_ERR_CONFLICT ...); its message is in err */
	smp_entry *entry;    /* a search entry, the caller's to free; else NULL */
} smp_dir_reply;

/*
 * Waits (at most the connection timeout) for the next message of any operation in flight.
 * Returns 0 with *out filled (a failed operation is a reply with code set, not an error), or
 * SMP_ERR_UNAVAILABLE when the connection is lost or the server stopped answering: then the
 * outcome of every operation in flight is unknown (reconnect, re-read, decide again).
 */
int smp_dir_next_reply(smp_dir *d, smp_dir_reply *out, smp_error *err);

#ifdef __cplusplus
}
#endif

#endif
