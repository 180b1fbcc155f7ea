/* smimepub: directory access (SPEC §4) over libldap: connect, bind, profiles, exact-value writes. */
#include "smimepub/dir.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>
#include <sasl/sasl.h>

#include "smimepub/cert.h"
#include "smimepub/ldif_in.h"

#define AD_CAPABILITY_OID "1.2.840.113556.1.4.800"

/* ---- Profiles ----------------------------------------------------------------------------- */

static const char *const ad_contact_classes[] = {
	"top", "person", "organizationalPerson", "contact", NULL
};
static const char *const rfc_contact_classes[] = {
	"top", "person", "organizationalPerson", "inetOrgPerson", NULL
};
static const char *const match_attrs[] = { "mail", "proxyAddresses", NULL };

const smp_profile smp_profile_ad = {
	.name = "ad",
	.cert_attr = "userCertificate",
	.contact_class = "contact",
	.contact_classes = ad_contact_classes,
	.match_attrs = match_attrs,
	.proxy_prefix = "smtp:",
	.write_target_address = 1,
	.write_proxy_addresses = 1,
	.write_sn = 0,
	.walk_filter = "(|(userCertificate=*)(userSMIMECertificate=*))",
	.max_page_size = 1000,
};

/*
 * OpenLDAP evaluates a filter item on an attribute its schema lacks as Undefined, so the
 * proxyAddresses half of the filter is harmless where the attribute does not exist.
 */
const smp_profile smp_profile_rfc = {
	.name = "rfc",
	.cert_attr = "userCertificate;binary",
	.contact_class = "inetOrgPerson",
	.contact_classes = rfc_contact_classes,
	.match_attrs = match_attrs,
	.proxy_prefix = "smtp:",
	.write_target_address = 0,
	.write_proxy_addresses = 0,
	.write_sn = 1,
	.walk_filter = "(|(userCertificate=*)(userCertificate;binary=*)(userSMIMECertificate=*))",
	.max_page_size = 0,
};

static char *read_attrs[] = {
	"userCertificate", "userCertificate;binary", "userSMIMECertificate",
	"userSMIMECertificate;binary", "mail", "proxyAddresses", "cn", "objectClass", NULL
};

/* ---- Connection --------------------------------------------------------------------------- */

struct smp_dir {
	LDAP *ld;
	char *uri;
	char *base;
	const smp_profile *profile;
	int page_size;
	int timeout;
	int last_rc;
	char *warning;
	smp_conn_options conn;  /* for smp_dir_reconnect: strings below owned */
	char *c_binddn, *c_password, *c_saslmech, *c_tls_cacert;
	struct ldif_export *ldif;  /* smp_dir_open_ldif: the entries, ld NULL; uri is the path */
};

static void ldif_export_free(struct ldif_export *x);
static int ldif_refuse(const smp_dir *d, const char *what, smp_error *err);

const smp_profile *smp_dir_profile(const smp_dir *d)
{
	return d->profile;
}

const char *smp_dir_base(const smp_dir *d)
{
	return d->base;
}

const char *smp_dir_uri(const smp_dir *d)
{
	return d->uri;
}

const char *smp_dir_warning(const smp_dir *d)
{
	return d->warning;
}

int smp_dir_last_result(const smp_dir *d)
{
	return d->last_rc;
}

struct ldap *smp_dir_ldap(smp_dir *d)
{
	return d->ld;
}

/* The smp_code for an LDAP result code. */
static int map_rc(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return 0;
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
		return SMP_ERR_UNAVAILABLE;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_AUTH_METHOD_NOT_SUPPORTED:
	case LDAP_AUTH_UNKNOWN:
		return SMP_ERR_ACCESS;
	case LDAP_NO_MEMORY:
		return SMP_ERR_NOMEM;
	default:
		return SMP_ERR_LDAP;
	}
}

/*
 * Records code in err with "<what>: <result> (<rc>)", then the diagnostic message and matched
 * DN when present. diag/matched NULL: taken from the handle. Returns code.
 */
static int ldap_fail(smp_dir *d, smp_error *err, int code, int rc, const char *diag,
		     const char *matched, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static int ldap_fail(smp_dir *d, smp_error *err, int code, int rc, const char *diag,
		     const char *matched, const char *fmt, ...)
{
	char what[512];
	char *hdiag = NULL, *hmatched = NULL;
	char trimmed[512];
	size_t len;
	va_list ap;

	d->last_rc = rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (diag == NULL && d->ld != NULL) {
		ldap_get_option(d->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &hdiag);
		diag = hdiag;
	}
	/* Active Directory ends its messages with a newline (sometimes a NUL-padded one) */
	if (diag != NULL && (len = strlen(diag)) > 0 && isspace((unsigned char)diag[len - 1])) {
		while (len > 0 && isspace((unsigned char)diag[len - 1]))
			len--;
		snprintf(trimmed, sizeof(trimmed), "%.*s", (int)len, diag);
		diag = trimmed;
	}
	if (matched == NULL && d->ld != NULL && rc > 0) {
		ldap_get_option(d->ld, LDAP_OPT_MATCHED_DN, &hmatched);
		matched = hmatched;
	}
	if (rc < 0) {
		/* client-side failure: the diagnostic is libldap's or the TLS library's */
		smp_error_set(err, code, "%s: %s (%d)%s%s", what, ldap_err2string(rc), rc,
			      diag != NULL && *diag != '\0' ? ": " : "",
			      diag != NULL && *diag != '\0' ? diag : "");
	} else {
		smp_error_set(err, code, "%s: %s (%d)%s%s%s%s%s", what, ldap_err2string(rc), rc,
			      diag != NULL && *diag != '\0' ? "; server says: " : "",
			      diag != NULL && *diag != '\0' ? diag : "",
			      matched != NULL && *matched != '\0' ? "; matched DN: '" : "",
			      matched != NULL && *matched != '\0' ? matched : "",
			      matched != NULL && *matched != '\0' ? "'" : "");
	}
	ldap_memfree(hdiag);
	ldap_memfree(hmatched);
	return code;
}

/*
 * A connection failure. libldap (GnuTLS builds in particular) often leaves only
 * "(unknown error code)" when the TLS handshake fails, so say what to check.
 */
static int connect_fail(smp_dir *d, smp_error *err, int rc, int tls)
{
	char *diag = NULL;
	int r;

	if (d->ld != NULL)
		ldap_get_option(d->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	d->last_rc = rc;
	if (tls && diag != NULL && *diag != '\0') {
		int unknown = strcmp(diag, "(unknown error code)") == 0;

		r = smp_error_set(err, SMP_ERR_UNAVAILABLE,
				  "cannot reach '%s': %s (%d): TLS handshake failed%s%s: check that the server's certificate is issued by a CA in the CA file (TLS_CACERT in ldap.conf, LDAPTLS_CACERT) and names the host in the URI",
				  d->uri, ldap_err2string(rc), rc, unknown ? "" : ": ",
				  unknown ? "" : diag);
	} else {
		r = ldap_fail(d, err, SMP_ERR_UNAVAILABLE, rc, NULL, NULL, "cannot reach '%s'", d->uri);
	}
	ldap_memfree(diag);
	return r;
}

static int is_loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL || *host == '\0')
		return 1;
	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}

/*
 * Calls fn for each URI of a list as libldap accepts it (separated by spaces or commas).
 * Returns -1 for an unparsable URI or an empty list, else the OR of fn's results.
 */
static int for_each_uri(const char *list, int (*fn)(const LDAPURLDesc *u))
{
	char *copy, *tok, *save = NULL;
	LDAPURLDesc *u;
	int result = 0, seen = 0;

	if (list == NULL || (copy = strdup(list)) == NULL)
		return -1;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
		if (ldap_url_parse(tok, &u) != LDAP_URL_SUCCESS) {
			result = -1;
			break;
		}
		result |= fn(u);
		seen = 1;
		ldap_free_urldesc(u);
	}
	free(copy);
	return seen ? result : -1;
}

static int uri_not_local(const LDAPURLDesc *u)
{
	if (strcasecmp(u->lud_scheme, "ldapi") == 0)
		return 0;
	return !is_loopback_host(u->lud_host);
}

static int uri_not_secure(const LDAPURLDesc *u)
{
	return strcasecmp(u->lud_scheme, "ldaps") != 0 && strcasecmp(u->lud_scheme, "ldapi") != 0;
}

static int uri_is_plain_ldap(const LDAPURLDesc *u)
{
	return strcasecmp(u->lud_scheme, "ldap") == 0;
}

int smp_dir_uri_is_local(const char *uri)
{
	return for_each_uri(uri, uri_not_local) == 0;
}

/* Whether every URI in the list is ldaps:// or ldapi:// (encrypted or local by construction). */
static int uri_is_secure(const char *uri)
{
	return for_each_uri(uri, uri_not_secure) == 0;
}

static int uri_is_ldaps(const LDAPURLDesc *u)
{
	return strcasecmp(u->lud_scheme, "ldaps") == 0;
}

/* Whether some URI in the list is ldaps://. */
static int uri_has_tls(const char *uri)
{
	return for_each_uri(uri, uri_is_ldaps) == 1;
}

/* Whether some URI in the list is plain ldap:// (where StartTLS applies). */
static int uri_has_plain(const char *uri)
{
	return for_each_uri(uri, uri_is_plain_ldap) == 1;
}

/* Whether the bind would send a password readable on the wire. */
static int bind_sends_password(const smp_conn_options *o)
{
	if (o->password == NULL || *o->password == '\0')
		return 0;
	if (o->saslmech == NULL)
		return o->binddn != NULL;
	return strcasecmp(o->saslmech, "PLAIN") == 0 || strcasecmp(o->saslmech, "LOGIN") == 0;
}

struct sasl_defaults {
	const char *authcid;
	const char *passwd;
};

static int sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	const struct sasl_defaults *def = defaults;
	sasl_interact_t *i;

	for (i = in; i->id != SASL_CB_LIST_END; i++) {
		const char *v = NULL;

		switch (i->id) {
		case SASL_CB_AUTHNAME:
			v = def->authcid;
			break;
		case SASL_CB_PASS:
			v = def->passwd;
			break;
		default:
			break;
		}
		if (v == NULL)
			v = i->defresult;
		if (v == NULL)
			v = "";
		i->result = v;
		i->len = strlen(v);
	}
	return LDAP_SUCCESS;
}

static int set_options(smp_dir *d, const smp_conn_options *o, smp_error *err)
{
	int version = LDAP_VERSION3;
	int zero = 0;
	struct timeval tv = { o->timeout > 0 ? o->timeout : 30, 0 };

	if (ldap_set_option(d->ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(d->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(d->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(d->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot set LDAP options");
	if (o->tls_cacert != NULL &&
	    ldap_set_option(d->ld, LDAP_OPT_X_TLS_CACERTFILE, o->tls_cacert) != LDAP_OPT_SUCCESS)
		return smp_error_set(err, SMP_ERR_USAGE, "cannot use CA file '%s'", o->tls_cacert);
	/* a new handle starts without ldap.conf's / LDAPTLS_CACERT's CA file: carry it over */
	if (o->tls_cacert == NULL) {
		char *file = NULL;

		if (ldap_get_option(NULL, LDAP_OPT_X_TLS_CACERTFILE, &file) == LDAP_OPT_SUCCESS &&
		    file != NULL)
			ldap_set_option(d->ld, LDAP_OPT_X_TLS_CACERTFILE, file);
		ldap_memfree(file);
		file = NULL;
		if (ldap_get_option(NULL, LDAP_OPT_X_TLS_CACERTDIR, &file) == LDAP_OPT_SUCCESS &&
		    file != NULL)
			ldap_set_option(d->ld, LDAP_OPT_X_TLS_CACERTDIR, file);
		ldap_memfree(file);
	}
	/* a context of this handle's own, from ldap.conf defaults plus the options above */
	if (ldap_set_option(d->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS)
		return ldap_fail(d, err, SMP_ERR_UNAVAILABLE, LDAP_CONNECT_ERROR, NULL, NULL,
				 "cannot set up TLS for '%s'", d->uri);
	return 0;
}

/* Restarts the handle after a failed -Z StartTLS, which may have left the connection unusable. */
static int reconnect_plain(smp_dir *d, const smp_conn_options *o, smp_error *err)
{
	ldap_unbind_ext_s(d->ld, NULL, NULL);
	d->ld = NULL;
	if (ldap_initialize(&d->ld, d->uri) != LDAP_SUCCESS)
		return smp_error_set(err, SMP_ERR_USAGE, "invalid LDAP URI '%s'", d->uri);
	return set_options(d, o, err);
}

static int start_tls(smp_dir *d, const smp_conn_options *o, int *encrypted, smp_error *err)
{
	int rc;
	char *diag = NULL;

	*encrypted = 0;
	if (o->starttls <= 0 || uri_is_secure(d->uri))
		return 0;
	rc = ldap_start_tls_s(d->ld, NULL, NULL);
	if (rc == LDAP_SUCCESS) {
		*encrypted = 1;
		return 0;
	}
	if (o->starttls >= 2 && rc < 0)
		return connect_fail(d, err, rc, 1);
	if (o->starttls >= 2)
		return ldap_fail(d, err, map_rc(rc) == SMP_ERR_LDAP ? SMP_ERR_UNAVAILABLE : map_rc(rc),
				 rc, NULL, NULL, "cannot start TLS with '%s'", d->uri);
	ldap_get_option(d->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	free(d->warning);
	if (asprintf(&d->warning, "StartTLS with '%s' failed, continuing without TLS: %s (%d)%s%s",
		     d->uri, ldap_err2string(rc), rc, diag != NULL && *diag ? ": " : "",
		     diag != NULL ? diag : "") < 0)
		d->warning = NULL;
	ldap_memfree(diag);
	return reconnect_plain(d, o, err);
}

/*
 * Reads from the connection in blocks: without this, libldap reads every message with two
 * system calls (its header, then its body) and polls before each one, which is most of the
 * parent's time in a walk of many small entries. The layer sits under TLS and SASL and only
 * buffers what the socket gave; failure to add it just leaves the default reads.
 */
static void read_ahead(smp_dir *d)
{
	Sockbuf *sb = NULL;
	int size = 64 * 1024;

	if (ldap_get_option(d->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL &&
	    !ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead))
		(void)ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead,
					 LBER_SBIOD_LEVEL_PROVIDER, &size);
}

static int do_bind(smp_dir *d, const smp_conn_options *o, smp_error *err)
{
	int rc;
	struct berval cred;
	struct sasl_defaults def = { o->binddn, o->password };

	if (o->saslmech != NULL) {
		rc = ldap_sasl_interactive_bind_s(d->ld, NULL, o->saslmech, NULL, NULL,
						  LDAP_SASL_QUIET, sasl_interact, &def);
		if (rc != LDAP_SUCCESS)
			return ldap_fail(d, err, map_rc(rc) == SMP_ERR_LDAP ? SMP_ERR_ACCESS : map_rc(rc),
					 rc, NULL, NULL, "cannot bind to '%s' with SASL %s",
					 d->uri, o->saslmech);
		return 0;
	}
	if (o->binddn == NULL)
		return 0;
	if (o->password == NULL || *o->password == '\0')
		return smp_error_set(err, SMP_ERR_USAGE,
				     "cannot bind as '%s': no password (use -y FILE, -W or SMIMEPUB_PASSWORD)",
				     o->binddn);
	cred.bv_val = (char *)o->password;
	cred.bv_len = strlen(o->password);
	rc = ldap_sasl_bind_s(d->ld, o->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		if (rc < 0 && rc != LDAP_NO_MEMORY)
			return connect_fail(d, err, rc, uri_has_tls(d->uri));
		return ldap_fail(d, err, map_rc(rc) == SMP_ERR_LDAP ? SMP_ERR_ACCESS : map_rc(rc),
				 rc, NULL, NULL, "cannot bind to '%s' as '%s'", d->uri, o->binddn);
	}
	return 0;
}

/* 1 when bv holds s, compared case-insensitively. */
static int bv_is(const struct berval *bv, const char *s)
{
	return bv->bv_len == strlen(s) && strncasecmp(bv->bv_val, s, bv->bv_len) == 0;
}

static int has_value(struct berval **vals, const char *want)
{
	size_t i;

	for (i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (bv_is(vals[i], want))
			return 1;
	}
	return 0;
}

static char *first_value(struct berval **vals)
{
	if (vals == NULL || vals[0] == NULL || vals[0]->bv_len == 0)
		return NULL;
	return strndup(vals[0]->bv_val, vals[0]->bv_len);
}

/* Reads the root DSE and settles the profile and the base. */
static int read_root_dse(smp_dir *d, const smp_conn_options *o, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	int rc;
	char *attrs[] = { "supportedCapabilities", "defaultNamingContext", "namingContexts", NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **caps = NULL, **defnc = NULL, **ncs = NULL;
	int need_dse = o->schema == SMP_SCHEMA_AUTO || d->base == NULL;

	rc = ldap_search_ext_s(d->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			       NULL, 0, &res);
	if (rc != LDAP_SUCCESS) {
		if (rc < 0) {
			r = connect_fail(d, err, rc, uri_has_tls(d->uri));
			goto out;
		}
		if (need_dse) {
			r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL,
				      "cannot read the root DSE of '%s'", d->uri);
			goto out;
		}
		r = 0;
		goto out;
	}
	e = ldap_first_entry(d->ld, res);
	if (e != NULL) {
		caps = ldap_get_values_len(d->ld, e, "supportedCapabilities");
		defnc = ldap_get_values_len(d->ld, e, "defaultNamingContext");
		ncs = ldap_get_values_len(d->ld, e, "namingContexts");
	}
	if (o->schema == SMP_SCHEMA_AUTO)
		d->profile = has_value(caps, AD_CAPABILITY_OID) ? &smp_profile_ad : &smp_profile_rfc;
	if (d->base == NULL)
		d->base = first_value(defnc);
	if (d->base == NULL)
		d->base = first_value(ncs);
	if (d->base == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE,
				  "'%s' names no naming context: give the search base with -b",
				  d->uri);
		goto out;
	}
	r = 0;
out:
	ldap_value_free_len(caps);
	ldap_value_free_len(defnc);
	ldap_value_free_len(ncs);
	ldap_msgfree(res);
	return r;
}

static int dup_opt(char **dst, const char **field, smp_error *err)
{
	if (*field == NULL)
		return 0;
	if ((*dst = strdup(*field)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	*field = *dst;
	return 0;
}

/* Copies what smp_dir_reconnect needs (the password too: the caller frees its own). */
static int keep_options(smp_dir *d, const smp_conn_options *opts, smp_error *err)
{
	int r;

	d->conn = *opts;
	d->conn.uri = d->uri;
	d->conn.base = NULL;
	if ((r = dup_opt(&d->c_binddn, &d->conn.binddn, err)) != 0 ||
	    (r = dup_opt(&d->c_password, &d->conn.password, err)) != 0 ||
	    (r = dup_opt(&d->c_saslmech, &d->conn.saslmech, err)) != 0 ||
	    (r = dup_opt(&d->c_tls_cacert, &d->conn.tls_cacert, err)) != 0)
		return r;
	return 0;
}

int smp_dir_open(smp_dir **out, const smp_conn_options *opts, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_dir *d = NULL;
	char *uri = NULL, *defbase = NULL;
	int encrypted = 0;
	int local;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (ldap_initialize(&d->ld, opts->uri) != LDAP_SUCCESS || d->ld == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "invalid LDAP URI '%s'",
				  opts->uri != NULL ? opts->uri : "(from ldap.conf)");
		goto out;
	}
	if (ldap_get_option(d->ld, LDAP_OPT_URI, &uri) != LDAP_OPT_SUCCESS || uri == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "no LDAP URI: give one with -H or in ldap.conf");
		goto out;
	}
	d->uri = strdup(uri);
	if (d->uri == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	local = smp_dir_uri_is_local(d->uri);
	/* decided before any connection: nothing may reach the network in clear */
	if (bind_sends_password(opts) && !opts->insecure && !local && !uri_is_secure(d->uri) &&
	    opts->starttls < 1) {
		r = smp_error_set(err, SMP_ERR_USAGE,
				  "refusing to send the password for '%s' in clear to '%s': use ldaps://, -ZZ or --insecure",
				  opts->binddn != NULL ? opts->binddn : "", d->uri);
		goto out;
	}
	d->timeout = opts->timeout > 0 ? opts->timeout : 30;
	r = set_options(d, opts, err);
	if (r < 0)
		goto out;
	if (opts->starttls > 0 && uri_has_plain(d->uri)) {
		r = start_tls(d, opts, &encrypted, err);
		if (r < 0)
			goto out;
		if (!encrypted && bind_sends_password(opts) && !opts->insecure && !local) {
			r = smp_error_set(err, SMP_ERR_USAGE,
					  "refusing to send the password for '%s' in clear to '%s' after StartTLS failed: use ldaps://, -ZZ or --insecure",
					  opts->binddn != NULL ? opts->binddn : "", d->uri);
			goto out;
		}
	}
	r = do_bind(d, opts, err);
	if (r < 0)
		goto out;
	read_ahead(d);

	if (opts->base != NULL) {
		d->base = strdup(opts->base);
	} else if (ldap_get_option(d->ld, LDAP_OPT_DEFBASE, &defbase) == LDAP_OPT_SUCCESS &&
		   defbase != NULL && *defbase != '\0') {
		d->base = strdup(defbase);
	}
	switch (opts->schema) {
	case SMP_SCHEMA_AD:
		d->profile = &smp_profile_ad;
		break;
	case SMP_SCHEMA_RFC:
		d->profile = &smp_profile_rfc;
		break;
	default:
		break;
	}
	r = read_root_dse(d, opts, err);
	if (r < 0)
		goto out;
	d->page_size = opts->page_size > 0 ? opts->page_size : 500;
	if (d->profile->max_page_size > 0 && d->page_size > d->profile->max_page_size)
		d->page_size = d->profile->max_page_size;
	d->last_rc = LDAP_SUCCESS;
	if ((r = keep_options(d, opts, err)) != 0)
		goto out;
	*out = d;
	d = NULL;
	r = 0;
out:
	ldap_memfree(uri);
	ldap_memfree(defbase);
	smp_dir_close(d);
	return r;
}

void smp_dir_close(smp_dir *d)
{
	if (d == NULL)
		return;
	if (d->ld != NULL)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	free(d->uri);
	free(d->base);
	free(d->warning);
	free(d->c_binddn);
	if (d->c_password != NULL) {
		explicit_bzero(d->c_password, strlen(d->c_password));
		free(d->c_password);
	}
	free(d->c_saslmech);
	free(d->c_tls_cacert);
	ldif_export_free(d->ldif);
	free(d);
}

int smp_dir_reconnect(smp_dir *d, smp_error *err)
{
	int r, encrypted = 0;

	if (d->ldif != NULL)
		return ldif_refuse(d, "reconnect", err);
	if (d->ld != NULL)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	d->ld = NULL;
	if (ldap_initialize(&d->ld, d->uri) != LDAP_SUCCESS || d->ld == NULL) {
		d->ld = NULL;
		return smp_error_set(err, SMP_ERR_USAGE, "invalid LDAP URI '%s'", d->uri);
	}
	if ((r = set_options(d, &d->conn, err)) != 0)
		return r;
	if (d->conn.starttls > 0 && uri_has_plain(d->uri)) {
		free(d->warning);
		d->warning = NULL;
		if ((r = start_tls(d, &d->conn, &encrypted, err)) != 0)
			return r;
		if (!encrypted && bind_sends_password(&d->conn) && !d->conn.insecure &&
		    !smp_dir_uri_is_local(d->uri))
			return smp_error_set(err, SMP_ERR_USAGE,
					     "refusing to send the password in clear to '%s' after "
					     "StartTLS failed", d->uri);
	}
	if ((r = do_bind(d, &d->conn, err)) != 0)
		return r;
	read_ahead(d);
	/* the first request on a fresh handle connects: make sure the server really answers */
	{
		LDAPMessage *res = NULL;
		char *attrs[] = { "1.1", NULL };
		int rc = ldap_search_ext_s(d->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
					   NULL, NULL, NULL, 0, &res);
		ldap_msgfree(res);
		if (rc < 0)
			return connect_fail(d, err, rc, uri_has_tls(d->uri));
	}
	d->last_rc = LDAP_SUCCESS;
	return 0;
}

/*
 * Makes room in the NULL-terminated entry array *v for its element count (the terminator
 * follows it) and returns where that element goes, or NULL when out of memory (*v kept).
 */
static smp_entry **entries_slot(smp_entry ***v, size_t count)
{
	smp_entry **nv = realloc(*v, (count + 2) * sizeof(**v));

	if (nv == NULL)
		return NULL;
	*v = nv;
	nv[count] = NULL;
	nv[count + 1] = NULL;
	return &nv[count];
}

/* ---- LDIF exports (smp_dir_open_ldif) ---------------------------------------------------- */

/* One key of an index: a normalised address or DN and the entry (file order) holding it. */
struct key {
	char *s;
	size_t entry;
};

/* Keys sorted case-insensitively, then by entry: equal keys list their entries in file order. */
struct index {
	struct key *v;
	size_t n, cap;
};

/*
 * An export is indexed, not held: each entry's offset in the file and what the searches need
 * to know of it; the entry itself is read again when a search or read returns it. Memory
 * grows with the keys (addresses, DNs), not with the certificates.
 */
enum { LDIF_IN_BASE = 1, LDIF_HAS_ADDRESS = 2, LDIF_HAS_CERT = 4 };

struct ldif_export {
	FILE *fp;                  /* the export (standard input: a copy in a temporary file) */
	uint64_t *offset;          /* every entry's place in fp, in file order */
	unsigned char *flags;      /* LDIF_* of each entry */
	size_t n, cap;
	struct index addrs;        /* smp_entry_each_address of every entry */
	struct index dns;          /* each entry's normalised DN */
	char **base;               /* explicit base: its RDNs; else the common suffix so far */
	size_t n_base;
	int explicit_base;
	int suffix_started;
	int has_proxy;             /* some entry holds proxyAddresses */
	const char *path;          /* while loading: for messages */
	smp_error *err;
};

static void free_rdns(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		ldap_memfree(v[i]);
	free(v);
}

static void index_release(struct index *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i].s);
	free(x->v);
}

static void ldif_export_free(struct ldif_export *x)
{
	if (x == NULL)
		return;
	if (x->fp != NULL)
		fclose(x->fp);
	free(x->offset);
	free(x->flags);
	index_release(&x->addrs);
	index_release(&x->dns);
	free_rdns(x->base, x->n_base);
	free(x);
}

static int index_add(struct index *x, const char *s, size_t entry)
{
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		struct key *nv = realloc(x->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return SMP_ERR_NOMEM;
		x->v = nv;
		x->cap = ncap;
	}
	if ((x->v[x->n].s = strdup(s)) == NULL)
		return SMP_ERR_NOMEM;
	x->v[x->n++].entry = entry;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *ka = a, *kb = b;
	int c = strcasecmp(ka->s, kb->s);

	if (c != 0)
		return c;
	return ka->entry < kb->entry ? -1 : ka->entry > kb->entry;
}

static void index_sort(struct index *x)
{
	if (x->n > 1)
		qsort(x->v, x->n, sizeof(*x->v), key_cmp);
}

/* The first position whose key is not below s (x->n when none). */
static size_t index_lower(const struct index *x, const char *s)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcasecmp(x->v[mid].s, s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The RDNs of dn, leaf first, each in its RFC 4514 string form as libldap normalises it
 * (spacing and escapes settled); free with free_rdns. Returns 0 or -1 when dn is not a DN.
 */
static int dn_rdns(char ***out, size_t *n, const char *dn)
{
	LDAPDN ldn = NULL;
	char **v = NULL;
	size_t k = 0, i;
	int r = -1;

	*out = NULL;
	*n = 0;
	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS)
		return -1;
	while (ldn != NULL && ldn[k] != NULL)
		k++;
	if ((v = calloc(k + 1, sizeof(*v))) == NULL)
		goto out;
	for (i = 0; i < k; i++)
		if (ldap_rdn2str(ldn[i], &v[i], LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) !=
		    LDAP_SUCCESS || v[i] == NULL)
			goto out;
	*out = v;
	*n = k;
	v = NULL;
	r = 0;
out:
	free_rdns(v, k);
	ldap_dnfree(ldn);
	return r;
}

/* The RDNs joined with ',' (the normalised DN), or NULL when out of memory. */
static char *rdns_join(char *const *rdns, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(rdns[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	*s = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, rdns[i]);
	}
	return s;
}

/* How many trailing RDNs a and b share (compared case-insensitively). */
static size_t common_suffix(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t k = 0;

	while (k < na && k < nb && strcasecmp(a[na - 1 - k], b[nb - 1 - k]) == 0)
		k++;
	return k;
}

struct address_sink {
	struct index *x;
	size_t entry;
};

static int index_address(const char *addr, int how, void *ctx)
{
	struct address_sink *s = ctx;

	(void)how;
	return index_add(s->x, addr, s->entry);
}

/* smp_ldif_walk_stream's callback: indexes e (its offset, normalised DN and addresses). */
static int ldif_keep(const smp_entry *e, uint64_t offset, void *ctx)
{
	struct ldif_export *x = ctx;
	struct address_sink sink = { &x->addrs, x->n };
	char **rdns = NULL, *ndn = NULL;
	size_t n = 0, k;
	int r = SMP_ERR_NOMEM;

	if (dn_rdns(&rdns, &n, e->dn) != 0)
		return smp_error_set(x->err, SMP_ERR_BADINPUT, "'%s': entry 'dn: %s': not a valid DN",
				     x->path, e->dn);
	if (x->n == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 64;
		uint64_t *no = realloc(x->offset, ncap * sizeof(*no));
		unsigned char *nf;

		if (no == NULL)
			goto out;
		x->offset = no;
		if ((nf = realloc(x->flags, ncap)) == NULL)
			goto out;
		x->flags = nf;
		x->cap = ncap;
	}
	x->offset[x->n] = offset;
	x->flags[x->n] = (e->n_mail > 0 || e->n_proxy > 0 ? LDIF_HAS_ADDRESS : 0) |
			 (e->n_certs > 0 || e->n_smime > 0 ? LDIF_HAS_CERT : 0);
	x->n++;
	if ((ndn = rdns_join(rdns, n)) == NULL || index_add(&x->dns, ndn, x->n - 1) != 0 ||
	    smp_entry_each_address(e, index_address, &sink) != 0)
		goto out;
	x->has_proxy |= e->n_proxy > 0;
	if (x->explicit_base) {
		if (common_suffix(rdns, n, x->base, x->n_base) == x->n_base)
			x->flags[x->n - 1] |= LDIF_IN_BASE;
	} else if (!x->suffix_started) {
		x->base = rdns;
		x->n_base = n;
		rdns = NULL;
		x->suffix_started = 1;
	} else {
		k = common_suffix(rdns, n, x->base, x->n_base);
		/* keep the last k RDNs of the suffix so far */
		for (size_t i = 0; i < x->n_base - k; i++)
			ldap_memfree(x->base[i]);
		memmove(x->base, x->base + (x->n_base - k), k * sizeof(*x->base));
		x->n_base = k;
	}
	r = 0;
out:
	free(ndn);
	free_rdns(rdns, n);
	if (r != 0)
		smp_error_set(x->err, r, "out of memory reading the LDIF export");
	return r;
}

/* The entry at x->offset[i], read again from the export: 0, or an error in err. */
static int ldif_entry(const smp_dir *d, size_t i, smp_entry **out, smp_error *err)
{
	return smp_ldif_read_at(d->ldif->fp, d->uri, d->ldif->offset[i], out, err);
}

/*
 * The export to index: path opened, or standard input ("-") copied to a temporary file so
 * its entries can be read again. NULL with the reason in err.
 */
static FILE *ldif_open(const char *path, smp_error *err)
{
	char buf[65536];
	size_t got;
	FILE *fp;

	if (strcmp(path, "-") != 0) {
		if ((fp = fopen(path, "rb")) == NULL)
			smp_error_set(err, SMP_ERR_NOFILE, "cannot open '%s': %s", path,
				      strerror(errno));
		return fp;
	}
	if ((fp = tmpfile()) == NULL) {
		smp_error_set(err, SMP_ERR_NOFILE, "cannot keep standard input in a temporary "
			      "file: %s", strerror(errno));
		return NULL;
	}
	while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (fwrite(buf, 1, got, fp) != got)
			break;
	if (ferror(stdin) || ferror(fp) || fflush(fp) != 0 || fseeko(fp, 0, SEEK_SET) != 0) {
		smp_error_set(err, SMP_ERR_NOFILE, "cannot keep standard input in a temporary "
			      "file: %s", strerror(errno ? errno : EIO));
		fclose(fp);
		return NULL;
	}
	return fp;
}

/*
 * The base of an export without -b: the common suffix of its DNs, or its parent when that is
 * the DN of an entry with an address (a lone recipient is no container). Every entry is in it.
 */
static int ldif_settle_base(smp_dir *d, struct ldif_export *x, smp_error *err)
{
	char *suffix = rdns_join(x->base, x->n_base);
	size_t drop = 0;

	if (suffix == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (size_t i = index_lower(&x->dns, suffix);
	     x->n_base > 0 && i < x->dns.n && strcasecmp(x->dns.v[i].s, suffix) == 0; i++)
		if (x->flags[x->dns.v[i].entry] & LDIF_HAS_ADDRESS)
			drop = 1;
	if (drop) {
		free(suffix);
		suffix = rdns_join(x->base + 1, x->n_base - 1);
		if (suffix == NULL)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	d->base = suffix;
	for (size_t i = 0; i < x->n; i++)
		x->flags[i] |= LDIF_IN_BASE;
	return 0;
}

/* Write and network entry points on an export: refused. */
static int ldif_refuse(const smp_dir *d, const char *what, smp_error *err)
{
	return smp_error_set(err, SMP_ERR_USAGE, "cannot %s: the LDIF export '%s' is read-only",
			     what, d->uri);
}

int smp_dir_open_ldif(smp_dir **out, const char *path, smp_schema schema, const char *base,
		      smp_error *err)
{
	int r = SMP_ERR_NOMEM;
	smp_dir *d = NULL;
	struct ldif_export *x = NULL;
	const char *ad_attr = NULL;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL || (x = calloc(1, sizeof(*x))) == NULL ||
	    (d->uri = strdup(path)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	x->err = err;
	x->path = path;
	if (base != NULL) {
		if (dn_rdns(&x->base, &x->n_base, base) != 0) {
			r = smp_error_set(err, SMP_ERR_USAGE, "not a DN: '%s'", base);
			goto out;
		}
		x->explicit_base = 1;
		if ((d->base = strdup(base)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((x->fp = ldif_open(path, err)) == NULL) {
		r = err->code;
		goto out;
	}
	if ((r = smp_ldif_walk_stream(x->fp, path, ldif_keep, x, &ad_attr, err)) != 0)
		goto out;
	index_sort(&x->addrs);
	index_sort(&x->dns);
	if (!x->explicit_base && (r = ldif_settle_base(d, x, err)) != 0)
		goto out;
	if (schema == SMP_SCHEMA_AD || (schema == SMP_SCHEMA_AUTO && ad_attr != NULL))
		d->profile = &smp_profile_ad;
	else
		d->profile = &smp_profile_rfc;
	if (schema == SMP_SCHEMA_AUTO && ad_attr == NULL && x->has_proxy &&
	    asprintf(&d->warning, "'%s' holds proxyAddresses but no attribute only Active "
		     "Directory has (objectGUID, objectCategory ...): planning for OpenLDAP "
		     "(userCertificate;binary); give --schema ad if it is an export of Active "
		     "Directory", path) < 0)
		d->warning = NULL;
	x->err = NULL;
	x->path = NULL;
	d->ldif = x;
	x = NULL;
	d->last_rc = LDAP_SUCCESS;
	*out = d;
	d = NULL;
	r = 0;
out:
	ldif_export_free(x);
	smp_dir_close(d);
	return r;
}

static int ldif_find(smp_dir *d, const char *addr, smp_entry ***out, size_t *n, smp_error *err)
{
	const struct ldif_export *x = d->ldif;
	smp_entry **v = NULL;
	size_t count = 0, i, last = (size_t)-1;
	char *norm = NULL;
	int r = SMP_ERR_NOMEM;

	if (smp_address_normalize(&norm, addr, strlen(addr), NULL) != 0) {
		r = 0;  /* not an address: nothing holds it */
		goto out;
	}
	for (i = index_lower(&x->addrs, norm);
	     i < x->addrs.n && strcasecmp(x->addrs.v[i].s, norm) == 0; i++) {
		size_t entry = x->addrs.v[i].entry;
		smp_entry **slot;

		if (entry == last || !(x->flags[entry] & LDIF_IN_BASE))
			continue;  /* same entry through mail and proxyAddresses */
		last = entry;
		if ((slot = entries_slot(&v, count)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((r = ldif_entry(d, entry, slot, err)) != 0)
			goto out;
		count++;
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	r = 0;
out:
	smp_entries_free(v, count);
	free(norm);
	d->last_rc = r == 0 ? LDAP_SUCCESS : LDAP_OTHER;
	return r;
}

static int ldif_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err)
{
	const struct ldif_export *x = d->ldif;
	char **rdns = NULL, *ndn = NULL;
	size_t n = 0, i;
	int r;

	if (dn_rdns(&rdns, &n, dn) != 0) {
		d->last_rc = LDAP_INVALID_DN_SYNTAX;
		return smp_error_set(err, SMP_ERR_NOTFOUND, "no entry '%s'", dn);
	}
	ndn = rdns_join(rdns, n);
	free_rdns(rdns, n);
	if (ndn == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	i = index_lower(&x->dns, ndn);
	if (i < x->dns.n && strcasecmp(x->dns.v[i].s, ndn) == 0) {
		r = ldif_entry(d, x->dns.v[i].entry, out, err);
		d->last_rc = r == 0 ? LDAP_SUCCESS : LDAP_OTHER;
	} else {
		d->last_rc = LDAP_NO_SUCH_OBJECT;
		r = smp_error_set(err, SMP_ERR_NOTFOUND, "no entry '%s'", dn);
	}
	free(ndn);
	return r;
}

static int ldif_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx), void *ctx,
		     smp_error *err)
{
	const struct ldif_export *x = d->ldif;
	smp_entry *e = NULL;
	int r = 0;

	for (size_t i = 0; i < x->n && r == 0; i++) {
		if ((x->flags[i] & (LDIF_IN_BASE | LDIF_HAS_CERT)) !=
		    (LDIF_IN_BASE | LDIF_HAS_CERT))
			continue;
		if ((r = ldif_entry(d, i, &e, err)) == 0)
			r = fn(e, ctx);
		smp_entry_free(e);
		e = NULL;
	}
	return r;
}

/* ---- Entries ------------------------------------------------------------------------------ */

/* The attribute type of a description ("userCertificate;binary" -> "userCertificate"). */
static int attr_is(const char *desc, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(desc, type, n) == 0 && (desc[n] == '\0' || desc[n] == ';');
}

static int append_strings(char ***arr, size_t *n, struct berval **vals)
{
	size_t k = ldap_count_values_len(vals), i;
	char **v;

	if (k == 0)
		return 0;
	v = realloc(*arr, (*n + k + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	*arr = v;
	for (i = 0; i < k; i++) {
		v[*n] = strndup(vals[i]->bv_val, vals[i]->bv_len);
		if (v[*n] == NULL)
			return -1;
		(*n)++;
		v[*n] = NULL;
	}
	return 0;
}

static int append_values(struct berval **arr, char ***names, size_t *n, struct berval **vals,
			 const char *name)
{
	size_t k = ldap_count_values_len(vals), i;
	struct berval *v;
	char **nv;

	if (k == 0)
		return 0;
	v = realloc(*arr, (*n + k + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	*arr = v;
	if (names != NULL) {
		nv = realloc(*names, (*n + k + 1) * sizeof(*nv));
		if (nv == NULL)
			return -1;
		*names = nv;
	}
	for (i = 0; i < k; i++) {
		v[*n].bv_len = vals[i]->bv_len;
		v[*n].bv_val = malloc(vals[i]->bv_len + 1);
		if (v[*n].bv_val == NULL)
			return -1;
		memcpy(v[*n].bv_val, vals[i]->bv_val, vals[i]->bv_len);
		v[*n].bv_val[vals[i]->bv_len] = '\0';
		if (names != NULL) {
			(*names)[*n] = strdup(name);
			if ((*names)[*n] == NULL) {
				free(v[*n].bv_val);
				return -1;
			}
		}
		(*n)++;
		v[*n].bv_val = NULL;
		v[*n].bv_len = 0;
		if (names != NULL)
			(*names)[*n] = NULL;
	}
	return 0;
}

static int entry_from_msg(smp_entry **out, LDAP *ld, LDAPMessage *msg, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_entry *e = NULL;
	BerElement *ber = NULL;
	char *a, *dn = NULL;
	struct berval **vals = NULL;
	int bad = 0;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	dn = ldap_get_dn(ld, msg);
	if (e == NULL || dn == NULL || (e->dn = strdup(dn)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (a = ldap_first_attribute(ld, msg, &ber); a != NULL && !bad;
	     a = ldap_next_attribute(ld, msg, ber)) {
		vals = ldap_get_values_len(ld, msg, a);
		if (attr_is(a, "userCertificate"))
			bad = append_values(&e->certs, &e->cert_attrs, &e->n_certs, vals, a);
		else if (attr_is(a, "userSMIMECertificate"))
			bad = append_values(&e->smime, NULL, &e->n_smime, vals, a);
		else if (attr_is(a, "mail"))
			bad = append_strings(&e->mail, &e->n_mail, vals);
		else if (attr_is(a, "proxyAddresses"))
			bad = append_strings(&e->proxy, &e->n_proxy, vals);
		else if (attr_is(a, "cn") && e->cn == NULL && vals != NULL && vals[0] != NULL)
			bad = (e->cn = strndup(vals[0]->bv_val, vals[0]->bv_len)) == NULL;
		ldap_value_free_len(vals);
		vals = NULL;
		ldap_memfree(a);
	}
	if (bad) {
		if (a != NULL)
			ldap_memfree(a);
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = e;
	e = NULL;
	r = 0;
out:
	if (ber != NULL)
		ber_free(ber, 0);
	ldap_memfree(dn);
	smp_entry_free(e);
	return r;
}

static int escaped(char **out, const char *value, smp_error *err)
{
	struct berval in, esc = { 0, NULL };

	in.bv_val = (char *)value;
	in.bv_len = strlen(value);
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	*out = esc.bv_val;
	return 0;
}

/*
 * "(|(mail=A)(proxyAddresses=smtp:A))" with A escaped per RFC 4515; for an internationalised
 * domain the same again for the address's Unicode form (smp_address_unicode), since entries
 * hold addresses as they were typed. Caller frees.
 */
static int address_filter(char **out, const smp_profile *p, const char *addr, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *forms[2] = { NULL, NULL }, *unicode = NULL, *f = NULL, *nf;
	size_t i, k;

	*out = NULL;
	if ((r = smp_address_unicode(&unicode, addr, err)) != 0 ||
	    (r = escaped(&forms[0], addr, err)) != 0 ||
	    (unicode != NULL && (r = escaped(&forms[1], unicode, err)) != 0))
		goto out;
	f = strdup("(|");
	for (k = 0; k < 2 && forms[k] != NULL; k++)
		for (i = 0; f != NULL && p->match_attrs[i] != NULL; i++) {
			const char *attr = p->match_attrs[i];
			const char *prefix = p->proxy_prefix != NULL &&
					     strcasecmp(attr, "proxyAddresses") == 0 ? p->proxy_prefix
										     : "";

			if (asprintf(&nf, "%s(%s=%s%s)", f, attr, prefix, forms[k]) < 0)
				nf = NULL;
			free(f);
			f = nf;
		}
	if (f == NULL || asprintf(&nf, "%s)", f) < 0) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = nf;
	r = 0;
out:
	free(f);
	free(unicode);
	ber_memfree(forms[0]);
	ber_memfree(forms[1]);
	return r;
}

/* Runs a search and collects the entries; search references are ignored. */
static int search_entries(smp_dir *d, const char *base, int scope, const char *filter,
			  smp_entry ***out, size_t *n, int *ldap_rc, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	int rc;
	LDAPMessage *res = NULL, *m;
	smp_entry **v = NULL, **slot;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	rc = ldap_search_ext_s(d->ld, base, scope, filter, read_attrs, 0, NULL, NULL, NULL, 0, &res);
	d->last_rc = rc;
	*ldap_rc = rc;
	if (rc != LDAP_SUCCESS) {
		r = SMP_ERR_LDAP;
		goto out;
	}
	for (m = ldap_first_entry(d->ld, res); m != NULL; m = ldap_next_entry(d->ld, m)) {
		if ((slot = entries_slot(&v, count)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		r = entry_from_msg(slot, d->ld, m, err);
		if (r < 0)
			goto out;
		count++;
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
	r = 0;
out:
	smp_entries_free(v, count);
	ldap_msgfree(res);
	return r;
}

int smp_dir_find_by_address(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			    smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *filter = NULL;
	int rc = LDAP_SUCCESS;

	*out = NULL;
	*n = 0;
	if (d->ldif != NULL)
		return ldif_find(d, addr, out, n, err);
	r = address_filter(&filter, d->profile, addr, err);
	if (r < 0)
		goto out;
	r = search_entries(d, d->base, LDAP_SCOPE_SUBTREE, filter, out, n, &rc, err);
	if (r == SMP_ERR_LDAP && rc != LDAP_SUCCESS)
		r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL, "cannot search '%s' for '%s'",
			      d->base, addr);
out:
	free(filter);
	return r;
}

/* See dir.h. */
int smp_dir_rc_no_entry(int rc)
{
	return rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INVALID_DN_SYNTAX || rc == LDAP_REFERRAL;
}

int smp_dir_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_entry **v = NULL;
	size_t n = 0;
	int rc = LDAP_SUCCESS;

	*out = NULL;
	if (d->ldif != NULL)
		return ldif_read(d, dn, out, err);
	r = search_entries(d, dn, LDAP_SCOPE_BASE, "(objectClass=*)", &v, &n, &rc, err);
	if (r == SMP_ERR_LDAP) {
		if (smp_dir_rc_no_entry(rc))
			r = ldap_fail(d, err, SMP_ERR_NOTFOUND, rc, NULL, NULL, "no entry '%s'", dn);
		else
			r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL, "cannot read '%s'", dn);
		goto out;
	}
	if (r < 0)
		goto out;
	if (n == 0) {
		r = smp_error_set(err, SMP_ERR_NOTFOUND, "no entry '%s'", dn);
		goto out;
	}
	*out = v[0];
	v[0] = NULL;
	r = 0;
out:
	smp_entries_free(v, n);
	return r;
}

/* ---- Writes ------------------------------------------------------------------------------- */

static int modify_code(int rc)
{
	switch (rc) {
	case LDAP_NO_SUCH_ATTRIBUTE:
	case LDAP_TYPE_OR_VALUE_EXISTS:
		return SMP_ERR_CONFLICT;
	case LDAP_NO_SUCH_OBJECT:
		return SMP_ERR_NOTFOUND;
	default:
		return map_rc(rc);
	}
}

/* The LDAPMod arrays of one modify: owns three allocations, freed by mods_release. */
struct mods {
	LDAPMod *mods;
	LDAPMod **modp;     /* NULL-terminated, what ldap_modify_ext takes */
	struct berval **vals;
	size_t n;          /* modifications (0 when the changes hold no value) */
};

static void mods_release(struct mods *m)
{
	free(m->vals);
	free(m->modp);
	free(m->mods);
}

/*
 * Builds the modifications for changes: every delete first, then every add (a reorder
 * deletes values and adds them back). Values are borrowed. Returns 0 or SMP_ERR_NOMEM.
 */
static int mods_build(struct mods *m, const smp_change *changes, size_t n, smp_error *err)
{
	size_t nvals = 0, i, j, k = 0, v = 0;
	int pass;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++) {
		m->n += (changes[i].n_del > 0) + (changes[i].n_add > 0);
		nvals += changes[i].n_del + changes[i].n_add + 2;
	}
	if (m->n == 0)
		return 0;
	m->mods = calloc(m->n, sizeof(*m->mods));
	m->modp = calloc(m->n + 1, sizeof(*m->modp));
	m->vals = calloc(nvals, sizeof(*m->vals));
	if (m->mods == NULL || m->modp == NULL || m->vals == NULL) {
		mods_release(m);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			struct berval *src = pass == 0 ? changes[i].del : changes[i].add;
			size_t cnt = pass == 0 ? changes[i].n_del : changes[i].n_add;

			if (cnt == 0)
				continue;
			m->mods[k].mod_op = (pass == 0 ? LDAP_MOD_DELETE : LDAP_MOD_ADD) |
					    LDAP_MOD_BVALUES;
			m->mods[k].mod_type = (char *)changes[i].attr;
			m->mods[k].mod_bvalues = &m->vals[v];
			for (j = 0; j < cnt; j++)
				m->vals[v++] = &src[j];
			m->vals[v++] = NULL;
			m->modp[k] = &m->mods[k];
			k++;
		}
	}
	m->modp[k] = NULL;
	return 0;
}

int smp_dir_modify(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
		   smp_error *err)
{
	struct mods m;
	int r, rc;

	if (d->ldif != NULL)
		return ldif_refuse(d, "modify an entry", err);
	if ((r = mods_build(&m, changes, n, err)) != 0 || m.n == 0)
		return r;
	rc = ldap_modify_ext_s(d->ld, dn, m.modp, NULL, NULL);
	d->last_rc = rc;
	r = 0;
	if (rc != LDAP_SUCCESS)
		r = ldap_fail(d, err, modify_code(rc), rc, NULL, NULL, "cannot modify '%s'", dn);
	mods_release(&m);
	return r;
}

/*
 * "cn=<cn>" escaped per RFC 4514 by libldap; LDAP_DN_PRETTY keeps UTF-8 as it is instead of
 * hex-escaping every non-ASCII byte. Caller frees with ldap_memfree.
 */
int smp_dir_contact_dn(const smp_dir *d, const char *ou, const char *cn, char **out,
		       smp_error *err)
{
	const char *parent = ou != NULL ? ou : d->base;
	const char *type = strcmp(d->profile->name, "ad") == 0 ? "CN" : "cn";
	LDAPAVA ava;
	LDAPAVA *rdn[2] = { &ava, NULL };
	LDAPDN pdn = NULL;
	char *rdnstr = NULL;

	*out = NULL;
	if (parent == NULL || *parent == '\0')
		return smp_error_set(err, SMP_ERR_USAGE,
				     "no DN to create the contact under: give --ou or -b");
	if (ldap_str2dn(parent, &pdn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return smp_error_set(err, SMP_ERR_USAGE, "not a DN: '%s'", parent);
	ldap_dnfree(pdn);
	memset(&ava, 0, sizeof(ava));
	ava.la_attr.bv_val = (char *)type;
	ava.la_attr.bv_len = strlen(type);
	ava.la_value.bv_val = (char *)cn;
	ava.la_value.bv_len = strlen(cn);
	ava.la_flags = LDAP_AVA_STRING;
	if (ldap_rdn2str(rdn, &rdnstr, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS ||
	    rdnstr == NULL)
		return smp_error_set(err, SMP_ERR_BADINPUT, "cannot make a DN from the name '%s'", cn);
	if (asprintf(out, "%s,%s", rdnstr, parent) < 0) {
		*out = NULL;
		ldap_memfree(rdnstr);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	ldap_memfree(rdnstr);
	return 0;
}

/* sn for an inetOrgPerson: the last word of cn, or cn. */
static const char *last_word(const char *cn)
{
	const char *sp = strrchr(cn, ' ');

	return sp != NULL && sp[1] != '\0' ? sp + 1 : cn;
}

int smp_dir_create_contact(smp_dir *d, const char *ou, const char *cn, const char *addr,
			   char **dn_out, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	const smp_profile *p = d->profile;
	char *dn = NULL, *smtp = NULL;
	char *v_cn[] = { (char *)cn, NULL };
	char *v_mail[] = { (char *)addr, NULL };
	char *v_sn[] = { (char *)last_word(cn), NULL };
	char *v_smtp[2] = { NULL, NULL };
	LDAPMod m[8], *mp[9];
	int nm = 0, rc, i, with_target;

	if (dn_out != NULL)
		*dn_out = NULL;
	if (d->ldif != NULL)
		return ldif_refuse(d, "create a contact", err);
	if (*cn == '\0' || *addr == '\0') {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "cannot create a contact without a name and an address");
		goto out;
	}
	if ((r = smp_dir_contact_dn(d, ou, cn, &dn, err)) != 0)
		goto out;
	if (asprintf(&smtp, "SMTP:%s", addr) < 0) {
		smtp = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	v_smtp[0] = smtp;
	for (with_target = p->write_target_address; with_target >= 0; with_target--) {
		nm = 0;
		memset(m, 0, sizeof(m));
		m[nm].mod_op = LDAP_MOD_ADD;
		m[nm].mod_type = "objectClass";
		m[nm++].mod_values = (char **)p->contact_classes;
		m[nm].mod_op = LDAP_MOD_ADD;
		m[nm].mod_type = "cn";
		m[nm++].mod_values = v_cn;
		m[nm].mod_op = LDAP_MOD_ADD;
		m[nm].mod_type = "displayName";
		m[nm++].mod_values = v_cn;
		m[nm].mod_op = LDAP_MOD_ADD;
		m[nm].mod_type = "mail";
		m[nm++].mod_values = v_mail;
		if (p->write_sn) {
			m[nm].mod_op = LDAP_MOD_ADD;
			m[nm].mod_type = "sn";
			m[nm++].mod_values = v_sn;
		}
		if (p->write_proxy_addresses) {
			m[nm].mod_op = LDAP_MOD_ADD;
			m[nm].mod_type = "proxyAddresses";
			m[nm++].mod_values = v_smtp;
		}
		if (with_target) {
			m[nm].mod_op = LDAP_MOD_ADD;
			m[nm].mod_type = "targetAddress";
			m[nm++].mod_values = v_smtp;
		}
		for (i = 0; i < nm; i++)
			mp[i] = &m[i];
		mp[nm] = NULL;
		rc = ldap_add_ext_s(d->ld, dn, mp, NULL, NULL);
		d->last_rc = rc;
		/* an AD without Exchange's schema has no targetAddress: go on without it */
		if (rc == LDAP_UNDEFINED_TYPE && with_target)
			continue;
		break;
	}
	if (rc != LDAP_SUCCESS) {
		r = ldap_fail(d, err, rc == LDAP_ALREADY_EXISTS ? SMP_ERR_CONFLICT : map_rc(rc), rc,
			      NULL, NULL, "cannot create contact '%s'", dn);
		goto out;
	}
	if (dn_out != NULL) {
		*dn_out = dn;
		dn = NULL;
	}
	r = 0;
out:
	free(dn);
	free(smtp);
	return r;
}

/* ---- Walk --------------------------------------------------------------------------------- */

/* See dir.h. */
int smp_dir_referral_is_ad_partition(const smp_dir *d, const char *url)
{
	static const struct { const char *attr, *value; } partitions[] = {
		{ "CN", "Configuration" }, { "DC", "DomainDnsZones" }, { "DC", "ForestDnsZones" },
	};
	LDAPURLDesc *lud = NULL;
	LDAPDN dn = NULL;
	int hit = 0;

	if (d == NULL || d->profile != &smp_profile_ad || url == NULL ||
	    ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS)
		return 0;
	if (lud->lud_dn != NULL &&
	    ldap_str2dn(lud->lud_dn, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && dn != NULL &&
	    dn[0] != NULL && dn[1] != NULL && dn[0][0] != NULL && dn[0][1] == NULL) {
		const LDAPAVA *ava = dn[0][0];

		for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]) && !hit; i++)
			hit = bv_is(&ava->la_attr, partitions[i].attr) &&
			      bv_is(&ava->la_value, partitions[i].value);
	}
	ldap_dnfree(dn);
	ldap_free_urldesc(lud);
	return hit;
}

static void report_referrals(smp_dir *d, LDAPMessage *msg,
			     void (*on_referral)(const char *url, void *ctx), void *ctx)
{
	char **refs = NULL;
	size_t i;

	if (ldap_parse_reference(d->ld, msg, &refs, NULL, 0) != LDAP_SUCCESS)
		return;
	for (i = 0; refs != NULL && refs[i] != NULL; i++) {
		if (on_referral != NULL)
			on_referral(refs[i], ctx);
	}
	ldap_memvfree((void **)refs);
}

int smp_dir_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
		 void (*on_referral)(const char *url, void *ctx), void *ctx, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	struct berval cookie = { 0, NULL };
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL }, **sctrls = NULL, *pr;
	LDAPMessage *msg = NULL;
	smp_entry *e = NULL;
	char *diag = NULL, *matched = NULL, **refs = NULL;
	int msgid = -1, rc, errcode, done, type;
	ber_int_t estimate;
	struct timeval tv;
	size_t i;

	if (d->ldif != NULL)
		return ldif_walk(d, fn, ctx, err);
	do {
		rc = ldap_create_page_control(d->ld, d->page_size, cookie.bv_val ? &cookie : NULL,
					      1, &page);
		if (rc != LDAP_SUCCESS) {
			r = ldap_fail(d, err, SMP_ERR_INTERNAL, rc, NULL, NULL,
				      "cannot create the paged results control");
			goto out;
		}
		ctrls[0] = page;
		rc = ldap_search_ext(d->ld, d->base, LDAP_SCOPE_SUBTREE, d->profile->walk_filter,
				     read_attrs, 0, ctrls, NULL, NULL, 0, &msgid);
		ldap_control_free(page);
		page = NULL;
		if (rc != LDAP_SUCCESS) {
			r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL, "cannot search '%s'", d->base);
			goto out;
		}
		for (done = 0; !done;) {
			tv.tv_sec = d->timeout;
			tv.tv_usec = 0;
			rc = ldap_result(d->ld, msgid, LDAP_MSG_ONE, &tv, &msg);
			if (rc <= 0) {
				if (rc == 0)
					rc = LDAP_TIMEOUT;
				else
					ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &rc);
				r = ldap_fail(d, err, SMP_ERR_UNAVAILABLE, rc, NULL, NULL,
					      "cannot search '%s'", d->base);
				goto out;
			}
			type = ldap_msgtype(msg);
			if (type == LDAP_RES_SEARCH_ENTRY) {
				r = entry_from_msg(&e, d->ld, msg, err);
				ldap_msgfree(msg);
				msg = NULL;
				if (r < 0)
					goto out;
				r = fn(e, ctx);
				smp_entry_free(e);
				e = NULL;
				if (r != 0)
					goto out;
			} else if (type == LDAP_RES_SEARCH_REFERENCE) {
				report_referrals(d, msg, on_referral, ctx);
				ldap_msgfree(msg);
				msg = NULL;
			} else if (type == LDAP_RES_SEARCH_RESULT) {
				rc = ldap_parse_result(d->ld, msg, &errcode, &matched, &diag, &refs,
						       &sctrls, 1);
				msg = NULL;
				msgid = -1;
				done = 1;
				if (rc != LDAP_SUCCESS) {
					r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL,
						      "cannot search '%s'", d->base);
					goto out;
				}
				for (i = 0; refs != NULL && refs[i] != NULL; i++) {
					if (on_referral != NULL)
						on_referral(refs[i], ctx);
				}
				d->last_rc = errcode;
				if (errcode != LDAP_SUCCESS && errcode != LDAP_REFERRAL) {
					r = ldap_fail(d, err, map_rc(errcode), errcode, diag, matched,
						      "cannot search '%s'", d->base);
					goto out;
				}
				ber_memfree(cookie.bv_val);
				cookie.bv_val = NULL;
				cookie.bv_len = 0;
				pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, sctrls, NULL);
				if (pr != NULL &&
				    ldap_parse_pageresponse_control(d->ld, pr, &estimate,
								    &cookie) != LDAP_SUCCESS) {
					r = smp_error_set(err, SMP_ERR_LDAP,
							  "cannot search '%s': bad paged results response",
							  d->base);
					goto out;
				}
				ldap_controls_free(sctrls);
				sctrls = NULL;
				ldap_memvfree((void **)refs);
				refs = NULL;
				ldap_memfree(diag);
				diag = NULL;
				ldap_memfree(matched);
				matched = NULL;
			} else {
				ldap_msgfree(msg);
				msg = NULL;
			}
		}
	} while (cookie.bv_val != NULL && cookie.bv_len > 0);
	r = 0;
out:
	if (msgid >= 0)
		ldap_abandon_ext(d->ld, msgid, NULL, NULL);
	smp_entry_free(e);
	ldap_msgfree(msg);
	ldap_control_free(page);
	ldap_controls_free(sctrls);
	ldap_memvfree((void **)refs);
	ldap_memfree(diag);
	ldap_memfree(matched);
	ber_memfree(cookie.bv_val);
	return r;
}

/* ---- Operations in flight ----------------------------------------------------------------- */

int smp_dir_find_addresses_send(smp_dir *d, const char *const *addrs, size_t n, int *msgid,
				smp_error *err)
{
	int r = SMP_ERR_INTERNAL, rc;
	char *filter = NULL, *one = NULL;
	size_t len = 0;
	FILE *fp = NULL;

	*msgid = -1;
	if (d->ldif != NULL)
		return ldif_refuse(d, "send a search", err);
	if ((fp = open_memstream(&filter, &len)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	fputs("(|", fp);
	for (size_t i = 0; i < n; i++) {
		/* each address's own "(|(mail=A)(proxyAddresses=smtp:A))", escaped per RFC 4515 */
		if ((r = address_filter(&one, d->profile, addrs[i], err)) != 0)
			goto out;
		fputs(one, fp);
		free(one);
		one = NULL;
	}
	fputs(")", fp);
	if (fclose(fp) != 0) {
		fp = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	fp = NULL;
	rc = ldap_search_ext(d->ld, d->base, LDAP_SCOPE_SUBTREE, filter, read_attrs, 0, NULL, NULL,
			     NULL, 0, msgid);
	d->last_rc = rc;
	if (rc != LDAP_SUCCESS) {
		*msgid = -1;
		r = ldap_fail(d, err, rc < 0 ? SMP_ERR_UNAVAILABLE : map_rc(rc), rc, NULL, NULL,
			      "cannot search '%s'", d->base);
		goto out;
	}
	r = 0;
out:
	if (fp != NULL)
		fclose(fp);
	free(one);
	free(filter);
	return r;
}

int smp_dir_read_send(smp_dir *d, const char *dn, int *msgid, smp_error *err)
{
	int rc;

	*msgid = -1;
	if (d->ldif != NULL)
		return ldif_refuse(d, "send a search", err);
	rc = ldap_search_ext(d->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", read_attrs, 0, NULL,
			     NULL, NULL, 0, msgid);
	d->last_rc = rc;
	if (rc != LDAP_SUCCESS) {
		*msgid = -1;
		return ldap_fail(d, err, rc < 0 ? SMP_ERR_UNAVAILABLE : map_rc(rc), rc, NULL, NULL,
				 "cannot read '%s'", dn);
	}
	return 0;
}

int smp_dir_modify_send(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
			int *msgid, smp_error *err)
{
	struct mods m;
	int r, rc;

	*msgid = -1;
	if (d->ldif != NULL)
		return ldif_refuse(d, "modify an entry", err);
	if ((r = mods_build(&m, changes, n, err)) != 0)
		return r;
	if (m.n == 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "nothing to modify on '%s'", dn);
	/* libldap encodes the request before returning: the values may go afterwards */
	rc = ldap_modify_ext(d->ld, dn, m.modp, NULL, NULL, msgid);
	d->last_rc = rc;
	r = 0;
	if (rc != LDAP_SUCCESS) {
		*msgid = -1;
		r = ldap_fail(d, err, rc < 0 ? SMP_ERR_UNAVAILABLE : modify_code(rc), rc, NULL, NULL,
			      "cannot modify '%s'", dn);
	}
	mods_release(&m);
	return r;
}

int smp_dir_next_reply(smp_dir *d, smp_dir_reply *out, smp_error *err)
{
	LDAPMessage *msg = NULL;
	struct timeval tv;
	int rc, type, errcode = LDAP_SUCCESS, r;
	char *diag = NULL, *matched = NULL;

	memset(out, 0, sizeof(*out));
	if (d->ldif != NULL)
		return ldif_refuse(d, "wait for a reply", err);
	for (;;) {
		tv.tv_sec = d->timeout;
		tv.tv_usec = 0;
		rc = ldap_result(d->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tv, &msg);
		if (rc <= 0) {
			if (rc == 0)
				rc = LDAP_TIMEOUT;
			else
				ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &rc);
			if (rc == LDAP_SUCCESS)
				rc = LDAP_SERVER_DOWN;
			return ldap_fail(d, err, SMP_ERR_UNAVAILABLE, rc, NULL, NULL,
					 "lost the connection to '%s'", d->uri);
		}
		type = ldap_msgtype(msg);
		out->msgid = ldap_msgid(msg);
		if (type == LDAP_RES_SEARCH_ENTRY) {
			r = entry_from_msg(&out->entry, d->ld, msg, err);
			ldap_msgfree(msg);
			if (r != 0)
				return r;
			return 0;
		}
		if (type == LDAP_RES_SEARCH_REFERENCE || type == LDAP_RES_INTERMEDIATE) {
			ldap_msgfree(msg);
			msg = NULL;
			continue;
		}
		break;
	}
	out->done = 1;
	rc = ldap_parse_result(d->ld, msg, &errcode, &matched, &diag, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS)
		errcode = rc;
	d->last_rc = errcode;
	out->rc = errcode;
	if (errcode == LDAP_SUCCESS || (type == LDAP_RES_SEARCH_RESULT && errcode == LDAP_REFERRAL)) {
		out->code = 0;
	} else {
		int code = type == LDAP_RES_MODIFY ? modify_code(errcode) : map_rc(errcode);

		out->code = ldap_fail(d, err, code, errcode, diag, matched, "%s failed",
				      type == LDAP_RES_MODIFY ? "modify" : "search");
	}
	ldap_memfree(diag);
	ldap_memfree(matched);
	return 0;
}
