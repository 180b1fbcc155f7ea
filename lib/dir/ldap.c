/*
 * smimepub: the LDAP backend of smp_dir (SPEC §4) over libldap: connection, TLS, bind, the
 * root DSE, paged searches, exact-value writes, operations in flight, reconnecting.
 */
#include "backend.h"
#include "schema.h"
#include "torture.h"

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
#include "smimepub/secret.h"

/* What an LDAP connection keeps besides struct smp_dir. */
struct ldap_be {
	LDAP *ld;
	int page_size;
	int timeout;
	smp_conn_options conn;  /* for smp_dir_reconnect: strings below owned */
	char *c_binddn, *c_password, *c_saslmech, *c_tls_cacert;
	dir_schema *schema;     /* the subschema, read once when first asked */
	int schema_read;        /* 1 once read (schema NULL: it could not be read) */
	int password_forgotten; /* smp_dir_forget_password was called: no reconnect */
};

static struct ldap_be *L(const smp_dir *d)
{
	return d->be;
}

static char *read_attrs[] = {
	"userCertificate", "userCertificate;binary", "userSMIMECertificate",
	"userSMIMECertificate;binary", "mail", "proxyAddresses", "cn", "objectClass", NULL
};

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
 * Why Active Directory (and Samba) refused a bind, from the "data XXX" sub-code of its
 * diagnostic ("80090308: LdapErr: ..., comment: AcceptSecurityContext error, data 52e, ..."):
 * plain words, or NULL. The codes are Windows' logon errors (MS-ERREF 2.3).
 */
static const char *ad_bind_reason(const char *diag)
{
	static const struct {
		const char *code, *words;
	} reasons[] = {
		{ "525", "no such user" },
		{ "52e", "wrong user name or password" },
		{ "530", "the account may not log on at this time of day" },
		{ "531", "the account may not log on from this computer" },
		{ "532", "the account's password has expired" },
		{ "533", "the account is disabled" },
		{ "568", "the account has too many security groups to log on" },
		{ "701", "the account has expired" },
		{ "773", "the account's password must be changed before it can log on" },
		{ "775", "the account is locked out" },
	};
	const char *p = diag != NULL ? strstr(diag, ", data ") : NULL;

	if (p == NULL)
		return NULL;
	p += strlen(", data ");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strncasecmp(p, reasons[i].code, 3) == 0 && !isxdigit((unsigned char)p[3]))
			return reasons[i].words;
	return NULL;
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
	if (diag == NULL && L(d)->ld != NULL) {
		ldap_get_option(L(d)->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &hdiag);
		diag = hdiag;
	}
	/* Active Directory ends its messages with a newline (sometimes a NUL-padded one) */
	if (diag != NULL && (len = strlen(diag)) > 0 && isspace((unsigned char)diag[len - 1])) {
		while (len > 0 && isspace((unsigned char)diag[len - 1]))
			len--;
		snprintf(trimmed, sizeof(trimmed), "%.*s", (int)len, diag);
		diag = trimmed;
	}
	if (matched == NULL && L(d)->ld != NULL && rc > 0) {
		ldap_get_option(L(d)->ld, LDAP_OPT_MATCHED_DN, &hmatched);
		matched = hmatched;
	}
	if (rc == LDAP_OPERATIONS_ERROR && diag != NULL &&
	    (strncmp(diag, "000004DC", 8) == 0 || strncmp(diag, "00002020", 8) == 0)) {
		/* how Active Directory (000004DC: "a successful bind must be completed") and
		   Samba (00002020: "unavailable without authentication") refuse anonymous
		   requests below the root DSE */
		code = SMP_ERR_ACCESS;
		smp_error_set_hint(err, code, SMP_HINT_BIND, "%s: the directory does not answer "
				   "anonymous requests: bind as an account (server says: %s)", what,
				   diag);
	} else if (rc == LDAP_INVALID_CREDENTIALS && ad_bind_reason(diag) != NULL) {
		smp_error_set(err, code, "%s: %s (%s (%d); server says: %s)", what,
			      ad_bind_reason(diag), ldap_err2string(rc), rc, diag);
	} else if (rc < 0) {
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

	if (L(d)->ld != NULL)
		ldap_get_option(L(d)->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
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

/*
 * SASL mechanisms that never put the password itself on the wire (Kerberos, certificates,
 * challenge-response); "-" marks a family prefix. Anything else given with a password counts
 * as sending it readable: PLAIN and LOGIN do, and a mechanism not listed here is not trusted
 * to be better.
 */
static const char *const sasl_no_cleartext[] = {
	"EXTERNAL", "GSSAPI", "GSS-SPNEGO", "GS2-", "SCRAM-", "DIGEST-MD5", "CRAM-MD5", "NTLM",
	"OTP", "SRP", "ANONYMOUS", NULL,
};

static int sasl_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/*
 * Whether the mechanism list mechs (-Y) may pick a mechanism that sends the password in
 * clear. Read as the SASL library reads it: names are split at any character a mechanism
 * name cannot hold (so "PLAIN ", " plain", "GSSAPI,PLAIN" all name PLAIN) and compared
 * without regard to case; an empty list lets the server choose, which may be PLAIN.
 */
static int sasl_mechs_send_password(const char *mechs)
{
	int any = 0;

	for (const char *p = mechs; *p != '\0';) {
		size_t n = 0;
		int safe = 0;

		while (*p != '\0' && !sasl_char((unsigned char)*p))
			p++;
		while (sasl_char((unsigned char)p[n]))
			n++;
		if (n == 0)
			break;
		any = 1;
		for (size_t i = 0; sasl_no_cleartext[i] != NULL && !safe; i++) {
			size_t k = strlen(sasl_no_cleartext[i]);

			if (sasl_no_cleartext[i][k - 1] == '-')
				safe = n > k && strncasecmp(p, sasl_no_cleartext[i], k) == 0;
			else
				safe = n == k && strncasecmp(p, sasl_no_cleartext[i], k) == 0;
		}
		if (!safe)
			return 1;
		p += n;
	}
	return !any;
}

/* Whether the bind would send a password readable on the wire. */
static int bind_sends_password(const smp_conn_options *o)
{
	if (o->password == NULL || *o->password == '\0')
		return 0;
	if (o->saslmech == NULL)
		return o->binddn != NULL;
	return sasl_mechs_send_password(o->saslmech);
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

	if (ldap_set_option(L(d)->ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(L(d)->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(L(d)->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(L(d)->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot set LDAP options");
#ifdef SMP_TORTURE
	if (smp_torture_ldap(L(d)->ld) != 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot set the send fault layer");
#endif
	if (o->tls_cacert != NULL &&
	    ldap_set_option(L(d)->ld, LDAP_OPT_X_TLS_CACERTFILE, o->tls_cacert) != LDAP_OPT_SUCCESS)
		return smp_error_set(err, SMP_ERR_USAGE, "cannot use CA file '%s'", o->tls_cacert);
	/* a new handle starts without ldap.conf's / LDAPTLS_CACERT's CA file: carry it over */
	if (o->tls_cacert == NULL) {
		char *file = NULL;

		if (ldap_get_option(NULL, LDAP_OPT_X_TLS_CACERTFILE, &file) == LDAP_OPT_SUCCESS &&
		    file != NULL)
			ldap_set_option(L(d)->ld, LDAP_OPT_X_TLS_CACERTFILE, file);
		ldap_memfree(file);
		file = NULL;
		if (ldap_get_option(NULL, LDAP_OPT_X_TLS_CACERTDIR, &file) == LDAP_OPT_SUCCESS &&
		    file != NULL)
			ldap_set_option(L(d)->ld, LDAP_OPT_X_TLS_CACERTDIR, file);
		ldap_memfree(file);
	}
	/* a context of this handle's own, from ldap.conf defaults plus the options above */
	if (ldap_set_option(L(d)->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS)
		return ldap_fail(d, err, SMP_ERR_UNAVAILABLE, LDAP_CONNECT_ERROR, NULL, NULL,
				 "cannot set up TLS for '%s'", d->uri);
	return 0;
}

/* Restarts the handle after a failed -Z StartTLS, which may have left the connection unusable. */
static int reconnect_plain(smp_dir *d, const smp_conn_options *o, smp_error *err)
{
	ldap_unbind_ext_s(L(d)->ld, NULL, NULL);
	L(d)->ld = NULL;
	if (ldap_initialize(&L(d)->ld, d->uri) != LDAP_SUCCESS)
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
	rc = ldap_start_tls_s(L(d)->ld, NULL, NULL);
	if (rc == LDAP_SUCCESS) {
		*encrypted = 1;
		return 0;
	}
	if (o->starttls >= 2 && rc < 0)
		return connect_fail(d, err, rc, 1);
	if (o->starttls >= 2)
		return ldap_fail(d, err, map_rc(rc) == SMP_ERR_LDAP ? SMP_ERR_UNAVAILABLE : map_rc(rc),
				 rc, NULL, NULL, "cannot start TLS with '%s'", d->uri);
	ldap_get_option(L(d)->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
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

	if (ldap_get_option(L(d)->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL &&
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
		rc = ldap_sasl_interactive_bind_s(L(d)->ld, NULL, o->saslmech, NULL, NULL,
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
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_NO_PASSWORD,
					  "cannot bind as '%s': no password", o->binddn);
	cred.bv_val = (char *)o->password;
	cred.bv_len = strlen(o->password);
	rc = ldap_sasl_bind_s(L(d)->ld, o->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
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
	int need_dse = d->profile == NULL || d->base == NULL;

	rc = ldap_search_ext_s(L(d)->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
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
	e = ldap_first_entry(L(d)->ld, res);
	if (e != NULL) {
		caps = ldap_get_values_len(L(d)->ld, e, "supportedCapabilities");
		defnc = ldap_get_values_len(L(d)->ld, e, "defaultNamingContext");
		ncs = ldap_get_values_len(L(d)->ld, e, "namingContexts");
	}
	/* auto: the first profile the server announces, else the last one (the default) */
	for (size_t i = 0; d->profile == NULL && smp_profiles[i] != NULL; i++)
		if (smp_profiles[i + 1] == NULL ||
		    (smp_profiles[i]->root_dse_capability != NULL &&
		     has_value(caps, smp_profiles[i]->root_dse_capability)))
			d->profile = smp_profiles[i];
	if (d->base == NULL)
		d->base = first_value(defnc);
	if (d->base == NULL)
		d->base = first_value(ncs);
	if (d->base == NULL) {
		r = smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_NO_BASE,
				       "'%s' names no naming context", d->uri);
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

	L(d)->conn = *opts;
	L(d)->conn.uri = d->uri;
	L(d)->conn.base = NULL;
	if (opts->password != NULL) {
		/* pages of its own: not in a core dump, not swapped, zeroes in a forked worker */
		if ((L(d)->c_password = smp_secret_strdup(opts->password)) == NULL)
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		L(d)->conn.password = L(d)->c_password;
	}
	if ((r = dup_opt(&L(d)->c_binddn, &L(d)->conn.binddn, err)) != 0 ||
	    (r = dup_opt(&L(d)->c_saslmech, &L(d)->conn.saslmech, err)) != 0 ||
	    (r = dup_opt(&L(d)->c_tls_cacert, &L(d)->conn.tls_cacert, err)) != 0)
		return r;
	return 0;
}

static const struct smp_dir_ops ldap_ops;

int smp_dir_open(smp_dir **out, const smp_conn_options *opts, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_dir *d = NULL;
	char *uri = NULL, *defbase = NULL;
	int encrypted = 0;
	int local;

	*out = NULL;
	if ((d = smp_dir_new(&ldap_ops)) == NULL || (d->be = calloc(1, sizeof(struct ldap_be))) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (ldap_initialize(&L(d)->ld, opts->uri) != LDAP_SUCCESS || L(d)->ld == NULL) {
		r = smp_error_set(err, SMP_ERR_USAGE, "invalid LDAP URI '%s'",
				  opts->uri != NULL ? opts->uri : "(from ldap.conf)");
		goto out;
	}
	if (ldap_get_option(L(d)->ld, LDAP_OPT_URI, &uri) != LDAP_OPT_SUCCESS || uri == NULL) {
		r = smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_NO_URI, "no LDAP URI");
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
		r = smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_PLAINTEXT_BIND,
				  "refusing to send the password%s%s%s in clear to '%s'%s%s%s",
				  opts->binddn != NULL ? " for '" : "",
				  opts->binddn != NULL ? opts->binddn : "",
				  opts->binddn != NULL ? "'" : "", d->uri,
				  opts->saslmech != NULL ? " (SASL mechanism '" : "",
				  opts->saslmech != NULL ? opts->saslmech : "",
				  opts->saslmech != NULL ? "')" : "");
		goto out;
	}
	L(d)->timeout = opts->timeout > 0 ? opts->timeout : 30;
	r = set_options(d, opts, err);
	if (r < 0)
		goto out;
	if (opts->starttls > 0 && uri_has_plain(d->uri)) {
		r = start_tls(d, opts, &encrypted, err);
		if (r < 0)
			goto out;
		if (!encrypted && bind_sends_password(opts) && !opts->insecure && !local) {
			r = smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_PLAINTEXT_BIND,
					  "refusing to send the password for '%s' in clear to '%s' after StartTLS failed",
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
	} else if (ldap_get_option(L(d)->ld, LDAP_OPT_DEFBASE, &defbase) == LDAP_OPT_SUCCESS &&
		   defbase != NULL && *defbase != '\0') {
		d->base = strdup(defbase);
	}
	if ((opts->base != NULL || defbase != NULL) && d->base == NULL) {
		/* never NULL for lack of memory: that would search the whole directory */
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	d->profile = opts->profile != NULL ? opts->profile : smp_profile_for_schema(opts->schema);
	r = read_root_dse(d, opts, err);
	if (r < 0)
		goto out;
	L(d)->page_size = opts->page_size > 0 ? opts->page_size : 500;
	if (d->profile->max_page_size > 0 && L(d)->page_size > d->profile->max_page_size)
		L(d)->page_size = d->profile->max_page_size;
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

static void ld_close(smp_dir *d)
{
	struct ldap_be *b = L(d);

	if (b == NULL)
		return;
	if (b->ld != NULL)
		ldap_unbind_ext_s(b->ld, NULL, NULL);
	free(b->c_binddn);
	smp_secret_free(b->c_password);
	free(b->c_saslmech);
	free(b->c_tls_cacert);
	dir_schema_free(b->schema);
	free(b);
	d->be = NULL;
}

/* See smp_dir_forget_password: a reconnect after this binds without a password. */
static void ld_forget_password(smp_dir *d)
{
	if (L(d)->c_password == NULL)
		return;  /* nothing held (SASL EXTERNAL, GSSAPI, anonymous): reconnects stay possible */
	smp_secret_free(L(d)->c_password);
	L(d)->c_password = NULL;
	L(d)->conn.password = NULL;
	L(d)->password_forgotten = 1;
}

static int ld_reconnect(smp_dir *d, smp_error *err)
{
	int r, encrypted = 0;

	if (L(d)->password_forgotten)
		return smp_error_set(err, SMP_ERR_UNAVAILABLE, "cannot reconnect to '%s': the "
				     "password was already cleared from memory", d->uri);

	if (L(d)->ld != NULL)
		ldap_unbind_ext_s(L(d)->ld, NULL, NULL);
	L(d)->ld = NULL;
	if (ldap_initialize(&L(d)->ld, d->uri) != LDAP_SUCCESS || L(d)->ld == NULL) {
		L(d)->ld = NULL;
		return smp_error_set(err, SMP_ERR_USAGE, "invalid LDAP URI '%s'", d->uri);
	}
	if ((r = set_options(d, &L(d)->conn, err)) != 0)
		return r;
	if (L(d)->conn.starttls > 0 && uri_has_plain(d->uri)) {
		free(d->warning);
		d->warning = NULL;
		if ((r = start_tls(d, &L(d)->conn, &encrypted, err)) != 0)
			return r;
		if (!encrypted && bind_sends_password(&L(d)->conn) && !L(d)->conn.insecure &&
		    !smp_dir_uri_is_local(d->uri))
			return smp_error_set(err, SMP_ERR_USAGE,
					     "refusing to send the password in clear to '%s' after "
					     "StartTLS failed", d->uri);
	}
	if ((r = do_bind(d, &L(d)->conn, err)) != 0)
		return r;
	read_ahead(d);
	/* the first request on a fresh handle connects: make sure the server really answers */
	{
		LDAPMessage *res = NULL;
		char *attrs[] = { "1.1", NULL };
		int rc = ldap_search_ext_s(L(d)->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
					   NULL, NULL, NULL, 0, &res);
		ldap_msgfree(res);
		if (rc < 0)
			return connect_fail(d, err, rc, uri_has_tls(d->uri));
	}
	d->last_rc = LDAP_SUCCESS;
	return 0;
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
	rc = ldap_search_ext_s(L(d)->ld, base, scope, filter, read_attrs, 0, NULL, NULL, NULL, 0, &res);
	d->last_rc = rc;
	*ldap_rc = rc;
	if (rc != LDAP_SUCCESS) {
		r = SMP_ERR_LDAP;
		goto out;
	}
	for (m = ldap_first_entry(L(d)->ld, res); m != NULL; m = ldap_next_entry(L(d)->ld, m)) {
		if ((slot = smp_dir_entries_slot(&v, count)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
		r = entry_from_msg(slot, L(d)->ld, m, err);
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

static int ld_find_by_address(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			    smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *filter = NULL;
	int rc = LDAP_SUCCESS;

	*out = NULL;
	*n = 0;
	r = smp_dir_address_filter(&filter, d->profile, addr, err);
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

static int ld_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_entry **v = NULL;
	size_t n = 0;
	int rc = LDAP_SUCCESS;

	*out = NULL;
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

static int ld_modify(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
		   smp_error *err)
{
	struct mods m;
	int r, rc;

	if ((r = mods_build(&m, changes, n, err)) != 0 || m.n == 0)
		return r;
	rc = ldap_modify_ext_s(L(d)->ld, dn, m.modp, NULL, NULL);
	d->last_rc = rc;
	r = 0;
	if (rc != LDAP_SUCCESS)
		r = ldap_fail(d, err, modify_code(rc), rc, NULL, NULL, "cannot modify '%s'", dn);
	mods_release(&m);
	return r;
}

static int ld_add_contact(smp_dir *d, const smp_contact *c, smp_error *err)
{
	LDAPMod m[SMP_CONTACT_MAX_VALUES], *mp[SMP_CONTACT_MAX_VALUES + 1];
	struct berval *vals[2 * SMP_CONTACT_MAX_VALUES];
	size_t nm = 0, nv = 0;
	int rc;

	/* one LDAPMod per attribute, its values in order (objectClass has several) */
	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < c->n; i++) {
		if (nm == 0 || strcasecmp(m[nm - 1].mod_type, c->attrs[i]) != 0) {
			if (nm > 0)
				vals[nv++] = NULL;
			m[nm].mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
			m[nm].mod_type = (char *)c->attrs[i];
			m[nm].mod_bvalues = &vals[nv];
			mp[nm] = &m[nm];
			nm++;
		}
		vals[nv++] = (struct berval *)&c->values[i];
	}
	vals[nv] = NULL;
	mp[nm] = NULL;
	rc = ldap_add_ext_s(L(d)->ld, c->dn, mp, NULL, NULL);
	d->last_rc = rc;
	if (rc != LDAP_SUCCESS)
		return ldap_fail(d, err, rc == LDAP_ALREADY_EXISTS ? SMP_ERR_CONFLICT : map_rc(rc), rc,
				 NULL, NULL, "cannot create '%s'", c->dn);
	return 0;
}

static int ld_delete_entry(smp_dir *d, const char *dn, smp_error *err)
{
	int rc = ldap_delete_ext_s(L(d)->ld, dn, NULL, NULL);

	d->last_rc = rc;
	if (rc != LDAP_SUCCESS)
		return ldap_fail(d, err, rc == LDAP_NO_SUCH_OBJECT ? SMP_ERR_NOTFOUND : map_rc(rc), rc,
				 NULL, NULL, "cannot delete '%s'", dn);
	return 0;
}

/*
 * Who the connection is bound as, for journal records: the bind DN, else the SASL identity
 * libldap negotiated (GSSAPI: the Kerberos principal), else the mechanism, else "anonymous".
 */
static char *ld_identity(smp_dir *d)
{
	char *name = NULL, *out = NULL;

	if (L(d)->c_binddn != NULL && L(d)->c_binddn[0] != '\0')
		return strdup(L(d)->c_binddn);
	if (L(d)->c_saslmech != NULL) {
		if (ldap_get_option(L(d)->ld, LDAP_OPT_X_SASL_USERNAME, &name) == LDAP_OPT_SUCCESS &&
		    name != NULL && name[0] != '\0') {
			if (asprintf(&out, "%s (SASL %s)", name, L(d)->c_saslmech) < 0)
				out = NULL;
		} else if (asprintf(&out, "SASL %s", L(d)->c_saslmech) < 0) {
			out = NULL;
		}
		ldap_memfree(name);
		return out;
	}
	return strdup("anonymous");
}

/* The first value of attr in the entry at dn (base search), malloc'd, or NULL. */
static char *entry_value(smp_dir *d, const char *dn, const char *attr)
{
	char *attrs[] = { (char *)attr, NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **v = NULL;
	char *out = NULL;

	if (ldap_search_ext_s(L(d)->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL,
			      NULL, NULL, 0, &res) == LDAP_SUCCESS &&
	    (e = ldap_first_entry(L(d)->ld, res)) != NULL &&
	    (v = ldap_get_values_len(L(d)->ld, e, attr)) != NULL && v[0] != NULL)
		out = strndup(v[0]->bv_val, v[0]->bv_len);
	ldap_value_free_len(v);
	ldap_msgfree(res);
	return out;
}

/*
 * The subschema entry named by the root DSE's subschemaSubentry, parsed (schema.h); read once
 * per connection, since contact creation asks about several attributes for each contact.
 * NULL when it cannot be read.
 */
static const dir_schema *schema(smp_dir *d)
{
	char *sch_attrs[] = { "attributeTypes", "objectClasses", "dITContentRules", NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **at = NULL, **oc = NULL, **cr = NULL;
	char *sub;

	if (L(d)->schema_read)
		return L(d)->schema;
	if ((sub = entry_value(d, "", "subschemaSubentry")) == NULL)
		goto out;
	if (ldap_search_ext_s(L(d)->ld, sub, LDAP_SCOPE_BASE, "(objectClass=*)", sch_attrs, 0,
			      NULL, NULL, NULL, 0, &res) == LDAP_SUCCESS &&
	    (e = ldap_first_entry(L(d)->ld, res)) != NULL) {
		at = ldap_get_values_len(L(d)->ld, e, "attributeTypes");
		oc = ldap_get_values_len(L(d)->ld, e, "objectClasses");
		cr = ldap_get_values_len(L(d)->ld, e, "dITContentRules");
		if (at != NULL && dir_schema_parse(&L(d)->schema, at, oc, cr) != 0)
			L(d)->schema = NULL;
	}
out:
	/* an answer without attribute types (refused, not found) is no schema, and asking
	   again would give the same */
	L(d)->schema_read = 1;
	ldap_value_free_len(at);
	ldap_value_free_len(oc);
	ldap_value_free_len(cr);
	ldap_msgfree(res);
	free(sub);
	return L(d)->schema;
}

static int ld_schema_has_attribute(smp_dir *d, const char *attr)
{
	const dir_schema *s = schema(d);

	return s != NULL ? dir_schema_has_attribute(s, attr) : -1;
}

static int ld_class_may_hold(smp_dir *d, const char *cls, const char *attr)
{
	const dir_schema *s = schema(d);

	return s != NULL ? dir_schema_class_may_hold(s, cls, attr) : -1;
}

static char *ld_root_dse_value(smp_dir *d, const char *attr)
{
	return entry_value(d, "", attr);
}

/* See backend.h: the DNs of a subtree search (no attributes), referrals not followed. */
static int ld_find_dns(smp_dir *d, const char *base, const char *filter, char ***out,
		       size_t *n)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL, *e;
	char **v = NULL;
	size_t k = 0;
	int rc, r = -1;

	*out = NULL;
	*n = 0;
	rc = ldap_search_ext_s(L(d)->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
			       NULL, 0, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
		goto out;
	for (e = ldap_first_entry(L(d)->ld, res); e != NULL; e = ldap_next_entry(L(d)->ld, e)) {
		char *dn = ldap_get_dn(L(d)->ld, e), **nv;

		if (dn == NULL || (nv = realloc(v, (k + 1) * sizeof(*v))) == NULL) {
			ldap_memfree(dn);
			goto out;
		}
		v = nv;
		v[k] = strdup(dn);
		ldap_memfree(dn);
		if (v[k] == NULL)
			goto out;
		k++;
	}
	*out = v;
	*n = k;
	v = NULL;
	r = 0;
out:
	for (size_t i = 0; v != NULL && i < k; i++)
		free(v[i]);
	free(v);
	ldap_msgfree(res);
	return r;
}

/*
 * See backend.h. One search without paging: the CA containers it is for hold a handful of
 * entries, far below any server's size limit. Referrals are not followed (a CA container
 * refers nowhere).
 */
static int ld_search_values(smp_dir *d, const char *base, int scope, const char *filter,
			    char **attrs, dir_value_fn fn, void *ctx, smp_error *err)
{
	LDAPMessage *res = NULL, *e;
	BerElement *ber = NULL;
	struct berval **v = NULL;
	char *dn = NULL, *a = NULL;
	int rc, r;

	rc = ldap_search_ext_s(L(d)->ld, base, scope, filter, attrs, 0, NULL, NULL, NULL, 0, &res);
	d->last_rc = rc;
	if (rc == LDAP_NO_SUCH_OBJECT) {
		r = 0;
		goto out;
	}
	if (rc != LDAP_SUCCESS) {
		r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL, "cannot search '%s'", base);
		goto out;
	}
	r = 0;
	for (e = ldap_first_entry(L(d)->ld, res); e != NULL && r == 0;
	     e = ldap_next_entry(L(d)->ld, e)) {
		if ((dn = ldap_get_dn(L(d)->ld, e)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			break;
		}
		for (a = ldap_first_attribute(L(d)->ld, e, &ber); a != NULL && r == 0;
		     a = ldap_next_attribute(L(d)->ld, e, ber)) {
			v = ldap_get_values_len(L(d)->ld, e, a);
			for (size_t i = 0; v != NULL && v[i] != NULL && r == 0; i++)
				r = fn(dn, a, i, v[i], ctx);
			ldap_value_free_len(v);
			v = NULL;
			ldap_memfree(a);
		}
		ldap_memfree(a);
		a = NULL;
		ber_free(ber, 0);
		ber = NULL;
		ldap_memfree(dn);
		dn = NULL;
	}
out:
	ldap_msgfree(res);
	return r;
}

/* ---- Walk --------------------------------------------------------------------------------- */

/* Returns 0, or an error when the reference could not be read (a referral is never dropped
 * without a word: it is a part of the directory the walk did not see). */
static int report_referrals(smp_dir *d, LDAPMessage *msg,
			    void (*on_referral)(const char *url, void *ctx), void *ctx,
			    smp_error *err)
{
	char **refs = NULL;
	size_t i;
	int rc = ldap_parse_reference(L(d)->ld, msg, &refs, NULL, 0);

	if (rc != LDAP_SUCCESS)
		return ldap_fail(d, err, rc == LDAP_NO_MEMORY ? SMP_ERR_NOMEM : SMP_ERR_INTERNAL, rc,
				 NULL, NULL, "cannot read a referral from '%s'", d->uri);
	for (i = 0; refs != NULL && refs[i] != NULL; i++) {
		if (on_referral != NULL)
			on_referral(refs[i], ctx);
	}
	ldap_memvfree((void **)refs);
	return 0;
}

static int ld_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
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

	do {
		rc = ldap_create_page_control(L(d)->ld, L(d)->page_size, cookie.bv_val ? &cookie : NULL,
					      1, &page);
		if (rc != LDAP_SUCCESS) {
			r = ldap_fail(d, err, SMP_ERR_INTERNAL, rc, NULL, NULL,
				      "cannot create the paged results control");
			goto out;
		}
		ctrls[0] = page;
		rc = ldap_search_ext(L(d)->ld, d->base, LDAP_SCOPE_SUBTREE, d->profile->walk_filter,
				     read_attrs, 0, ctrls, NULL, NULL, 0, &msgid);
		ldap_control_free(page);
		page = NULL;
		if (rc != LDAP_SUCCESS) {
			r = ldap_fail(d, err, map_rc(rc), rc, NULL, NULL, "cannot search '%s'", d->base);
			goto out;
		}
		for (done = 0; !done;) {
			tv.tv_sec = L(d)->timeout;
			tv.tv_usec = 0;
			rc = ldap_result(L(d)->ld, msgid, LDAP_MSG_ONE, &tv, &msg);
			if (rc <= 0) {
				if (rc == 0)
					rc = LDAP_TIMEOUT;
				else
					ldap_get_option(L(d)->ld, LDAP_OPT_RESULT_CODE, &rc);
				r = ldap_fail(d, err, SMP_ERR_UNAVAILABLE, rc, NULL, NULL,
					      "cannot search '%s'", d->base);
				goto out;
			}
			type = ldap_msgtype(msg);
			if (type == LDAP_RES_SEARCH_ENTRY) {
				r = entry_from_msg(&e, L(d)->ld, msg, err);
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
				r = report_referrals(d, msg, on_referral, ctx, err);
				ldap_msgfree(msg);
				msg = NULL;
				if (r != 0)
					goto out;
			} else if (type == LDAP_RES_SEARCH_RESULT) {
				rc = ldap_parse_result(L(d)->ld, msg, &errcode, &matched, &diag, &refs,
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
				    ldap_parse_pageresponse_control(L(d)->ld, pr, &estimate,
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
		ldap_abandon_ext(L(d)->ld, msgid, NULL, NULL);
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

static int ld_find_addresses_send(smp_dir *d, const char *filter, int *msgid, smp_error *err)
{
	int rc;

	rc = ldap_search_ext(L(d)->ld, d->base, LDAP_SCOPE_SUBTREE, filter, read_attrs, 0, NULL,
			     NULL, NULL, 0, msgid);
	d->last_rc = rc;
	if (rc != LDAP_SUCCESS) {
		*msgid = -1;
		return ldap_fail(d, err, rc < 0 ? SMP_ERR_UNAVAILABLE : map_rc(rc), rc, NULL, NULL,
				 "cannot search '%s'", d->base);
	}
	return 0;
}

static int ld_read_send(smp_dir *d, const char *dn, int *msgid, smp_error *err)
{
	int rc;

	*msgid = -1;
	rc = ldap_search_ext(L(d)->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", read_attrs, 0, NULL,
			     NULL, NULL, 0, msgid);
	d->last_rc = rc;
	if (rc != LDAP_SUCCESS) {
		*msgid = -1;
		return ldap_fail(d, err, rc < 0 ? SMP_ERR_UNAVAILABLE : map_rc(rc), rc, NULL, NULL,
				 "cannot read '%s'", dn);
	}
	return 0;
}

static int ld_modify_send(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
			int *msgid, smp_error *err)
{
	struct mods m;
	int r, rc;

	*msgid = -1;
	if ((r = mods_build(&m, changes, n, err)) != 0)
		return r;
	if (m.n == 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "nothing to modify on '%s'", dn);
	/* libldap encodes the request before returning: the values may go afterwards */
	rc = ldap_modify_ext(L(d)->ld, dn, m.modp, NULL, NULL, msgid);
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

static int ld_next_reply(smp_dir *d, smp_dir_reply *out, smp_error *err)
{
	LDAPMessage *msg = NULL;
	struct timeval tv;
	int rc, type, errcode = LDAP_SUCCESS, r;
	char *diag = NULL, *matched = NULL;

	memset(out, 0, sizeof(*out));
	for (;;) {
		tv.tv_sec = L(d)->timeout;
		tv.tv_usec = 0;
		rc = ldap_result(L(d)->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tv, &msg);
		if (rc <= 0) {
			if (rc == 0)
				rc = LDAP_TIMEOUT;
			else
				ldap_get_option(L(d)->ld, LDAP_OPT_RESULT_CODE, &rc);
			if (rc == LDAP_SUCCESS)
				rc = LDAP_SERVER_DOWN;
			return ldap_fail(d, err, SMP_ERR_UNAVAILABLE, rc, NULL, NULL,
					 "lost the connection to '%s'", d->uri);
		}
		type = ldap_msgtype(msg);
		out->msgid = ldap_msgid(msg);
		if (type == LDAP_RES_SEARCH_ENTRY) {
			r = entry_from_msg(&out->entry, L(d)->ld, msg, err);
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
	rc = ldap_parse_result(L(d)->ld, msg, &errcode, &matched, &diag, NULL, NULL, 1);
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

static struct ldap *ld_handle(smp_dir *d)
{
	return L(d)->ld;
}

static const struct smp_dir_ops ldap_ops = {
	.name = "the directory",
	.refusal = "cannot do it",
	.find_by_address = ld_find_by_address,
	.read = ld_read,
	.modify = ld_modify,
	.add_contact = ld_add_contact,
	.delete_entry = ld_delete_entry,
	.identity = ld_identity,
	.schema_has_attribute = ld_schema_has_attribute,
	.class_may_hold = ld_class_may_hold,
	.root_dse_value = ld_root_dse_value,
	.find_dns = ld_find_dns,
	.search_values = ld_search_values,
	.walk = ld_walk,
	.find_addresses_send = ld_find_addresses_send,
	.read_send = ld_read_send,
	.modify_send = ld_modify_send,
	.next_reply = ld_next_reply,
	.reconnect = ld_reconnect,
	.forget_password = ld_forget_password,
	.ldap = ld_handle,
	.close = ld_close,
};
