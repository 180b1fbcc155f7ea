/*
 * smimepub: the one directory interface (SPEC §4). struct smp_dir and its public functions,
 * dispatched to a backend's table of operations (backend.h: ldap.c for servers, ldif.c for
 * exports), and what needs no backend: address filters and DNs built with libldap's escaping,
 * contact names, referrals to partitions without recipients, refusals.
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "smimepub/cert.h"

smp_dir *smp_dir_new(const struct smp_dir_ops *ops)
{
	smp_dir *d = calloc(1, sizeof(*d));

	if (d != NULL) {
		d->ops = ops;
		d->last_rc = LDAP_SUCCESS;
	}
	return d;
}

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

smp_hint smp_dir_warning_hint(const smp_dir *d)
{
	return d->warning_hint;
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
	return d->ops->ldap != NULL ? d->ops->ldap(d) : NULL;
}

void smp_dir_close(smp_dir *d)
{
	if (d == NULL)
		return;
	if (d->ops != NULL && d->ops->close != NULL)
		d->ops->close(d);
	for (size_t i = 0; i < d->n_address_lists; i++)
		free(d->address_lists[i]);
	free(d->address_lists);
	free(d->uri);
	free(d->base);
	free(d->warning);
	free(d);
}

/* An operation d's backend does not have: "cannot <what>: the LDIF export 'x' is read-only". */
static int refuse(const smp_dir *d, const char *what, smp_error *err)
{
	return smp_error_set(err, SMP_ERR_USAGE, "cannot %s: %s '%s' %s", what, d->ops->name,
			     d->uri != NULL ? d->uri : "", d->ops->refusal);
}

/* ---- Dispatch ----------------------------------------------------------------------------- */

int smp_dir_reconnect(smp_dir *d, smp_error *err)
{
	if (d->ops->reconnect == NULL)
		return refuse(d, "reconnect", err);
	return d->ops->reconnect(d, err);
}

void smp_dir_forget_password(smp_dir *d)
{
	if (d != NULL && d->ops->forget_password != NULL)
		d->ops->forget_password(d);
}

int smp_dir_find_by_address(smp_dir *d, const char *addr, smp_entry ***out, size_t *n,
			    smp_error *err)
{
	*out = NULL;
	*n = 0;
	if (d->ops->find_by_address == NULL)
		return refuse(d, "search for an address", err);
	return d->ops->find_by_address(d, addr, out, n, err);
}

int smp_dir_read(smp_dir *d, const char *dn, smp_entry **out, smp_error *err)
{
	*out = NULL;
	if (d->ops->read == NULL)
		return refuse(d, "read an entry", err);
	return d->ops->read(d, dn, out, err);
}

int smp_dir_modify(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
		   smp_error *err)
{
	if (d->ops->modify == NULL)
		return refuse(d, "modify an entry", err);
	return d->ops->modify(d, dn, changes, n, err);
}

int dir_search_values(smp_dir *d, const char *what, const char *base, int scope,
		      const char *filter, char **attrs, dir_value_fn fn, void *ctx,
		      smp_error *err)
{
	if (d->ops->search_values == NULL)
		return refuse(d, what, err);
	return d->ops->search_values(d, base, scope, filter, attrs, fn, ctx, err);
}

int smp_dir_walk(smp_dir *d, int (*fn)(const smp_entry *e, void *ctx),
		 void (*on_referral)(const char *url, void *ctx), void *ctx, smp_error *err)
{
	if (d->ops->walk == NULL)
		return refuse(d, "walk the entries", err);
	return d->ops->walk(d, fn, on_referral, ctx, err);
}

int smp_dir_find_addresses_send(smp_dir *d, const char *const *addrs, size_t n, int *msgid,
				smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *filter = NULL, *one = NULL;
	size_t len = 0;
	FILE *fp = NULL;

	*msgid = -1;
	if (d->ops->find_addresses_send == NULL)
		return refuse(d, "send a search", err);
	if ((fp = open_memstream(&filter, &len)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	fputs("(|", fp);
	for (size_t i = 0; i < n; i++) {
		/* each address's own "(|(mail=A)(proxyAddresses=smtp:A))", escaped per RFC 4515 */
		if ((r = smp_dir_address_filter(&one, d->profile, addrs[i], err)) != 0)
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
	r = d->ops->find_addresses_send(d, filter, msgid, err);
out:
	if (fp != NULL)
		fclose(fp);
	free(one);
	free(filter);
	return r;
}

int smp_dir_read_send(smp_dir *d, const char *dn, int *msgid, smp_error *err)
{
	*msgid = -1;
	if (d->ops->read_send == NULL)
		return refuse(d, "send a search", err);
	return d->ops->read_send(d, dn, msgid, err);
}

int smp_dir_modify_send(smp_dir *d, const char *dn, const smp_change *changes, size_t n,
			int *msgid, smp_error *err)
{
	*msgid = -1;
	if (d->ops->modify_send == NULL)
		return refuse(d, "modify an entry", err);
	return d->ops->modify_send(d, dn, changes, n, msgid, err);
}

int smp_dir_next_reply(smp_dir *d, smp_dir_reply *out, smp_error *err)
{
	memset(out, 0, sizeof(*out));
	if (d->ops->next_reply == NULL)
		return refuse(d, "wait for a reply", err);
	return d->ops->next_reply(d, out, err);
}

/* ---- Filters ------------------------------------------------------------------------------ */

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

/* See dir.h. */
int smp_dir_find_login(smp_dir *d, const char *attr, const char *value, char **dn,
		       smp_error *err)
{
	char *esc = NULL, *filter = NULL, **dns = NULL;
	size_t n = 0;
	int r;

	*dn = NULL;
	if (attr == NULL || *attr == '\0' || strspn(attr, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(attr))
		return smp_error_set(err, SMP_ERR_USAGE, "'%s' is not an attribute name",
				     attr != NULL ? attr : "");
	if (d->ops->find_dns == NULL)
		return refuse(d, "find a login", err);
	if ((r = escaped(&esc, value, err)) != 0)
		return r;
	if (asprintf(&filter, "(%s=%s)", attr, esc) < 0) {
		filter = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (d->ops->find_dns(d, smp_dir_base(d) != NULL ? smp_dir_base(d) : "", filter, &dns,
			     &n) != 0) {
		r = smp_error_set(err, SMP_ERR_ACCESS, "cannot search for %s", filter);
		goto out;
	}
	if (n != 1) {
		/* the same answer for none and several: a login says no more than that */
		r = smp_error_set(err, SMP_ERR_ACCESS, "no single entry has %s", filter);
		goto out;
	}
	if ((*dn = strdup(dns[0])) == NULL)
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	else
		r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(dns[i]);
	free(dns);
	free(filter);
	ber_memfree(esc);
	return r;
}

/* See backend.h. */
int smp_dir_address_filter(char **out, const smp_profile *p, const char *addr, smp_error *err)
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

/* ---- DNs ---------------------------------------------------------------------------------- */

void smp_dir_rdns_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		ldap_memfree(v[i]);
	free(v);
}

static char *rdn_v3(LDAPRDN rdn)
{
	char *s = NULL;

	if (ldap_rdn2str(rdn, &s, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY) != LDAP_SUCCESS)
		return NULL;
	return s;
}

/* See backend.h. */
int smp_dir_rdns(char ***out, size_t *n, const char *dn)
{
	return smp_dir_rdns_map(out, n, dn, rdn_v3);
}

/* See backend.h. */
int smp_dir_rdns_map(char ***out, size_t *n, const char *dn, char *(*fmt)(LDAPRDN rdn))
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
		if ((v[i] = fmt(ldn[i])) == NULL)
			goto out;
	*out = v;
	*n = k;
	v = NULL;
	r = 0;
out:
	smp_dir_rdns_free(v, k);
	ldap_dnfree(ldn);
	return r;
}

char *smp_dir_rdns_join(char *const *rdns, size_t n)
{
	size_t len = 1, at = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(rdns[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rdns[i]);

		if (i > 0)
			s[at++] = ',';
		memcpy(s + at, rdns[i], l);
		at += l;
	}
	s[at] = '\0';
	return s;
}

smp_entry **smp_dir_entries_slot(smp_entry ***v, size_t count)
{
	smp_entry **nv = realloc(*v, (count + 2) * sizeof(**v));

	if (nv == NULL)
		return NULL;
	*v = nv;
	nv[count] = NULL;
	nv[count + 1] = NULL;
	return &nv[count];
}

/* 1 when bv holds s, compared case-insensitively. */
static int bv_is(const struct berval *bv, const char *s)
{
	return bv->bv_len == strlen(s) && strncasecmp(bv->bv_val, s, bv->bv_len) == 0;
}

/*
 * "<rdn_attr>=<cn>,<parent>", the RDN escaped per RFC 4514 by libldap; LDAP_DN_PRETTY keeps
 * UTF-8 as it is instead of hex-escaping every non-ASCII byte.
 */
int smp_dir_contact_dn(const smp_dir *d, const char *ou, const char *cn, char **out,
		       smp_error *err)
{
	const char *parent = ou != NULL ? ou : d->base;
	const char *type = d->profile->rdn_attr != NULL ? d->profile->rdn_attr : "cn";
	LDAPAVA ava;
	LDAPAVA *rdn[2] = { &ava, NULL };
	LDAPDN pdn = NULL;
	char *rdnstr = NULL;

	*out = NULL;
	if (parent == NULL || *parent == '\0') 
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_CONTACT_PARENT,
					  "no DN to create the contact under");
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

int smp_dir_schema_has_attribute(smp_dir *d, const char *attr)
{
	return d->ops->schema_has_attribute != NULL ? d->ops->schema_has_attribute(d, attr) : -1;
}

int smp_dir_class_may_hold(smp_dir *d, const char *cls, const char *attr)
{
	return d->ops->class_may_hold != NULL ? d->ops->class_may_hold(d, cls, attr) : -1;
}

void smp_contact_free(smp_contact *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->values[i].bv_val);
	free(c->dn);
	free(c);
}

/* Appends attr: value to c. Returns 0 or SMP_ERR_NOMEM (also when c is full). */
static int contact_put(smp_contact *c, const char *attr, const char *value)
{
	if (c->n >= SMP_CONTACT_MAX_VALUES || (c->values[c->n].bv_val = strdup(value)) == NULL)
		return SMP_ERR_NOMEM;
	c->values[c->n].bv_len = strlen(value);
	c->attrs[c->n++] = attr;
	return 0;
}

/* ---- Exchange ----------------------------------------------------------------------------- */

/* Whether the ASCII byte c may stand in an alias (besides '.'): New-MailContact, -Alias. */
static int alias_ascii(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * The length of the UTF-8 sequence at s and its code point in *cp, or 0 when s does not start
 * a well-formed one (overlong forms and surrogates included).
 */
static size_t utf8_char(const unsigned char *s, unsigned *cp)
{
	size_t n, i;
	unsigned v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, v = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, v = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, v = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* The alias made of the first len bytes of s (see smp_exchange_alias), or NULL (no memory). */
static char *alias_of(const char *s, size_t len)
{
	/* 64 characters of at most 2 UTF-8 bytes each (U+00A1..U+00FF) */
	char *out = malloc(64 * 2 + 1);
	size_t o = 0, chars = 0, i = 0, n;
	unsigned cp;

	if (out == NULL)
		return NULL;
	while (i < len && chars < 64) {
		const unsigned char *p = (const unsigned char *)s + i;

		if ((n = utf8_char(p, &cp)) == 0 || i + n > len)
			n = 1, cp = 0xfffd;  /* not UTF-8: a character no alias holds */
		i += n;
		if (cp == ' ')
			continue;
		if (cp == '.') {
			/* between two other characters only: not first, not after another '.' */
			if (o > 0 && out[o - 1] != '.') {
				out[o++] = '.';
				chars++;
			}
			continue;
		}
		if (cp < 0x80 && alias_ascii((unsigned char)cp)) {
			out[o++] = (char)cp;
		} else if (cp >= 0xa1 && cp <= 0xff) {
			memcpy(out + o, p, n);
			o += n;
		} else {
			out[o++] = '?';
		}
		chars++;
	}
	while (o > 0 && out[o - 1] == '.')  /* nor last */
		o--;
	out[o] = '\0';
	return out;
}

int smp_exchange_alias(char **out, const char *name, const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	char *a;

	*out = NULL;
	if ((a = alias_of(name, strlen(name))) == NULL)
		return SMP_ERR_NOMEM;
	if (*a == '\0' && addr != NULL) {
		free(a);
		if ((a = alias_of(addr, at != NULL ? (size_t)(at - addr) : strlen(addr))) == NULL)
			return SMP_ERR_NOMEM;
	}
	*out = a;
	return 0;
}

/*
 * Exchange's built-in address lists that hold every mail contact by their own definition: the
 * Default Global Address List (all recipients with an alias) and All Contacts (all mail
 * contacts). Each is an addressBookContainer in the configuration partition at
 * CN=<list>,CN=<parent>,CN=Address Lists Container,CN=<organisation>,CN=Microsoft Exchange,
 * CN=Services; membership of any other list (custom lists, address book policies) follows a
 * recipient filter only Exchange evaluates.
 */
static const struct { const char *rdn, *parent; } builtin_lists[] = {
	{ "CN=Default Global Address List", "CN=All Global Address Lists" },
	{ "CN=All Contacts", "CN=All Address Lists" },
};

/* Whether dn is CN=<list>,<parent>,CN=Address Lists Container,CN=<org>,<exch> for list i. */
static int is_builtin_list(const char *dn, size_t i, const char *exch)
{
	char **rdns = NULL, *tail = NULL;
	size_t n = 0;
	int ok = 0;

	if (smp_dir_rdns(&rdns, &n, dn) != 0)
		return 0;
	if (n > 4 && strcasecmp(rdns[0], builtin_lists[i].rdn) == 0 &&
	    strcasecmp(rdns[1], builtin_lists[i].parent) == 0 &&
	    strcasecmp(rdns[2], "CN=Address Lists Container") == 0 &&
	    (tail = smp_dir_rdns_join(rdns + 4, n - 4)) != NULL) {
		char **erdns = NULL, *etail = NULL;
		size_t en = 0;

		/* compared in the same normalised form */
		if (smp_dir_rdns(&erdns, &en, exch) == 0 &&
		    (etail = smp_dir_rdns_join(erdns, en)) != NULL)
			ok = strcasecmp(tail, etail) == 0;
		free(etail);
		smp_dir_rdns_free(erdns, en);
	}
	free(tail);
	smp_dir_rdns_free(rdns, n);
	return ok;
}

/*
 * Finds, once per connection, the DN of each built-in address list d has exactly one of (in
 * builtin_lists' order) into d->address_lists. Finding none is no error: Exchange adds the
 * contact to its lists when it next updates the recipient. Returns 0 or SMP_ERR_NOMEM.
 */
static int find_address_lists(smp_dir *d)
{
	char *config = NULL, *exch = NULL, **dns = NULL;
	size_t n = 0, nl = sizeof(builtin_lists) / sizeof(builtin_lists[0]);
	int r = 0;

	if (d->address_lists_read)
		return 0;
	if (d->ops->root_dse_value == NULL || d->ops->find_dns == NULL ||
	    (config = d->ops->root_dse_value(d, "configurationNamingContext")) == NULL)
		goto done;
	if (asprintf(&exch, "CN=Microsoft Exchange,CN=Services,%s", config) < 0) {
		exch = NULL;
		r = SMP_ERR_NOMEM;
		goto out;
	}
	if (d->ops->find_dns(d, exch, "(&(objectClass=addressBookContainer)"
			     "(|(cn=Default Global Address List)(cn=All Contacts)))", &dns, &n) != 0)
		goto done;
	if ((d->address_lists = calloc(nl, sizeof(*d->address_lists))) == NULL) {
		r = SMP_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		const char *found = NULL;
		size_t hits = 0;

		for (size_t k = 0; k < n; k++)
			if (is_builtin_list(dns[k], i, exch)) {
				found = dns[k];
				hits++;
			}
		if (hits != 1)
			continue;
		if ((d->address_lists[d->n_address_lists] = strdup(found)) == NULL) {
			r = SMP_ERR_NOMEM;
			goto out;
		}
		d->n_address_lists++;
	}
done:
	d->address_lists_read = 1;
out:
	for (size_t k = 0; k < n; k++)
		free(dns[k]);
	free(dns);
	free(exch);
	free(config);
	return r;
}

/* Appends to c, as attr, the DNs of d's built-in address lists. 0 or SMP_ERR_NOMEM. */
static int put_address_lists(smp_contact *c, smp_dir *d, const char *attr)
{
	int r;

	if ((r = find_address_lists(d)) != 0)
		return r;
	for (size_t i = 0; i < d->n_address_lists; i++)
		if (contact_put(c, attr, d->address_lists[i]) != 0)
			return SMP_ERR_NOMEM;
	return 0;
}

/* Whether a created contact may hold attr on d (smp_dir_class_may_hold of contact_class). */
static int may_hold(smp_dir *d, const char *attr)
{
	return smp_dir_class_may_hold(d, d->profile->contact_class, attr);
}

int smp_dir_contact_new(smp_contact **out, smp_dir *d, const char *ou, const char *cn,
			const char *addr, smp_error *err)
{
	const smp_profile *p = d->profile;
	smp_contact *c = NULL;
	char *smtp = NULL;
	char *alias = NULL;
	int r = SMP_ERR_NOMEM, target;

	*out = NULL;
	if (*cn == '\0' || *addr == '\0')
		return smp_error_set(err, SMP_ERR_BADINPUT,
				     "cannot create a contact without a name and an address");
	if ((c = calloc(1, sizeof(*c))) == NULL || asprintf(&smtp, "SMTP:%s", addr) < 0) {
		smtp = NULL;
		goto out;
	}
	if ((r = smp_dir_contact_dn(d, ou, cn, &c->dn, err)) != 0)
		goto out;
	r = SMP_ERR_NOMEM;
	for (size_t i = 0; p->contact_classes != NULL && p->contact_classes[i] != NULL; i++)
		if (contact_put(c, "objectClass", p->contact_classes[i]) != 0)
			goto out;
	if (contact_put(c, "cn", cn) != 0 ||
	    (p->write_sn && contact_put(c, "sn", last_word(cn)) != 0) ||
	    contact_put(c, "displayName", cn) != 0 || contact_put(c, "mail", addr) != 0 ||
	    (p->write_proxy_addresses && contact_put(c, "proxyAddresses", smtp) != 0))
		goto out;
	target = p->write_target_address ? may_hold(d, "targetAddress") : 0;
	if (target < 0)
		target = p->write_target_address;
	if (target && contact_put(c, "targetAddress", smtp) != 0)
		goto out;
	c->exchange = p->recipient_marker == NULL ? -1 : may_hold(d, p->recipient_marker) == 1;
	for (const smp_recipient_attr *ra = p->recipient_attrs; c->exchange == 1 && ra != NULL &&
	     ra->attr != NULL; ra++) {
		if (may_hold(d, ra->attr) != 1)
			continue;
		if (ra->kind == SMP_RECIPIENT_ALIAS) {
			if ((r = smp_exchange_alias(&alias, cn, addr)) != 0 ||
			    contact_put(c, ra->attr, alias) != 0)
				goto nomem;
		} else if (ra->kind == SMP_RECIPIENT_ADDRESS_LISTS) {
			if ((r = put_address_lists(c, d, ra->attr)) != 0)
				goto nomem;
		} else if (contact_put(c, ra->attr, ra->value) != 0) {
			goto nomem;
		}
	}
	*out = c;
	c = NULL;
	r = 0;
	goto out;
nomem:
	r = SMP_ERR_NOMEM;
out:
	if (r == SMP_ERR_NOMEM)
		smp_error_set(err, r, "out of memory");
	smp_contact_free(c);
	free(alias);
	free(smtp);
	return r;
}

int smp_dir_add_contact(smp_dir *d, const smp_contact *c, smp_error *err)
{
	if (d->ops->add_contact == NULL)
		return refuse(d, "create a contact", err);
	return d->ops->add_contact(d, c, err);
}

int smp_dir_delete(smp_dir *d, const char *dn, smp_error *err)
{
	if (d->ops->delete_entry == NULL)
		return refuse(d, "delete an entry", err);
	return d->ops->delete_entry(d, dn, err);
}

char *smp_dir_identity(smp_dir *d)
{
	if (d->ops->identity == NULL)
		return strdup(d->ops->name);
	return d->ops->identity(d);
}

int smp_dir_create_contact(smp_dir *d, const char *ou, const char *cn, const char *addr,
			   char **dn_out, smp_error *err)
{
	smp_contact *c = NULL;
	int r;

	if (dn_out != NULL)
		*dn_out = NULL;
	if (d->ops->add_contact == NULL)
		return refuse(d, "create a contact", err);
	if ((r = smp_dir_contact_new(&c, d, ou, cn, addr, err)) != 0)
		return r;
	if ((r = smp_dir_add_contact(d, c, err)) == 0 && dn_out != NULL) {
		*dn_out = c->dn;
		c->dn = NULL;
	}
	smp_contact_free(c);
	return r;
}

/* ---- Referrals ---------------------------------------------------------------------------- */

/* Whether ava is the RDN "attr=value" (one AVA, compared case-insensitively). */
static int ava_is_rdn(const LDAPAVA *ava, const char *rdn)
{
	const char *eq = strchr(rdn, '=');

	if (eq == NULL)
		return 0;
	return ava->la_attr.bv_len == (size_t)(eq - rdn) &&
	       strncasecmp(ava->la_attr.bv_val, rdn, ava->la_attr.bv_len) == 0 &&
	       bv_is(&ava->la_value, eq + 1);
}

/* See dir.h. */
int smp_dir_referral_is_ad_partition(const smp_dir *d, const char *url)
{
	const char *const *parts;
	LDAPURLDesc *lud = NULL;
	LDAPDN dn = NULL;
	int hit = 0;

	if (d == NULL || (parts = d->profile->recipientless_partitions) == NULL || url == NULL ||
	    ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS)
		return 0;
	if (lud->lud_dn != NULL &&
	    ldap_str2dn(lud->lud_dn, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS && dn != NULL &&
	    dn[0] != NULL && dn[1] != NULL && dn[0][0] != NULL && dn[0][1] == NULL) {
		for (size_t i = 0; parts[i] != NULL && !hit; i++)
			hit = ava_is_rdn(dn[0][0], parts[i]);
	}
	ldap_dnfree(dn);
	ldap_free_urldesc(lud);
	return hit;
}
