/* Mailbox addresses: validation and normalisation (SPEC §3). */
#include "smimepub/cert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>
#include <idn2.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int is_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		l = utf8_seq_len(s + i, n - i);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

static int is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* An ASCII domain: letters, digits, '-', '_' and '.' in non-empty labels, or an address literal. */
static int ascii_domain_ok(const char *d)
{
	size_t n = strlen(d);
	size_t label = 0;

	if (n == 0)
		return 0;
	if (d[0] == '[')
		return n > 2 && d[n - 1] == ']' && strspn(d + 1, "0123456789abcdefABCDEF.:Iiv") == n - 2;
	for (const char *p = d; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
		label++;
	}
	return label > 0;
}

/*
 * Whether the domain holds a compatibility character: one that NFKC would replace (full-width
 * 'ｅ' U+FF45, ligatures, circled or superscript letters, the full-width dot U+FF0E ...).
 * UTS #46, which libidn2's lookup applies, maps these silently, so 'ｅｘａｍｐｌｅ.com' would
 * become example.com and a certificate for one domain would match entries of another; IDNA2008
 * itself disallows them. Case is not a compatibility difference: 'BÜCHER' stays accepted.
 * On a hit, *cp is the first such character and *folded what NFKC makes of the domain
 * (g_free it).
 */
static int has_compat_char(const char *domain, gunichar *cp, char **folded)
{
	char *nfc = g_utf8_normalize(domain, -1, G_NORMALIZE_NFC);
	char *nfkc = g_utf8_normalize(domain, -1, G_NORMALIZE_NFKC);
	int hit = nfc != NULL && nfkc != NULL && strcmp(nfc, nfkc) != 0;

	*cp = 0;
	*folded = NULL;
	for (const char *p = domain; hit && *p != '\0'; p = g_utf8_next_char(p)) {
		char one[8] = { 0 };
		char *a, *b;
		int differs;

		memcpy(one, p, (size_t)(g_utf8_next_char(p) - p));
		a = g_utf8_normalize(one, -1, G_NORMALIZE_NFC);
		b = g_utf8_normalize(one, -1, G_NORMALIZE_NFKC);
		differs = a != NULL && b != NULL && strcmp(a, b) != 0;
		g_free(a);
		g_free(b);
		if (differs) {
			*cp = g_utf8_get_char(p);
			break;
		}
	}
	if (hit) {
		*folded = nfkc;
		nfkc = NULL;
	}
	g_free(nfc);
	g_free(nfkc);
	return hit;
}

/*
 * Normalises a mailbox address (see cert.h): local part kept, domain lower-cased and in
 * A-label form. *out is the caller's to free.
 */
int smp_address_normalize(char **out, const char *in, size_t len, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *copy = NULL, *domain_a = NULL, *res = NULL;
	const char *at, *domain;
	size_t local_len;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || in == NULL)
		return smp_error_set(err, SMP_ERR_INTERNAL, "smp_address_normalize: null argument");
	if (len == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "empty address");
		goto out;
	}
	if (memchr(in, '\0', len) != NULL) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address contains a NUL byte");
		goto out;
	}
	if (!is_utf8((const unsigned char *)in, len)) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address is not valid UTF-8");
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c == 0x7f) {
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "address contains a space or control character");
			goto out;
		}
	}
	if ((copy = strndup(in, len)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	at = strchr(copy, '@');
	if (at == NULL) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address has no '@'");
		goto out;
	}
	if (strchr(at + 1, '@') != NULL) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address has more than one '@'");
		goto out;
	}
	local_len = (size_t)(at - copy);
	domain = at + 1;
	if (local_len == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address has an empty local part");
		goto out;
	}
	if (*domain == '\0') {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "address has an empty domain");
		goto out;
	}
	if (is_ascii(domain)) {
		if (!ascii_domain_ok(domain)) {
			r = smp_error_set(err, SMP_ERR_BADINPUT, "address has an invalid domain");
			goto out;
		}
		if ((domain_a = strdup(domain)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	} else {
		char *tmp = NULL, *folded = NULL;
		gunichar cp;

		if (has_compat_char(domain, &cp, &folded)) {
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "address has a domain with a full-width or other compatibility "
					  "character (U+%04X): '%s' is not '%s', and is not taken for it",
					  (unsigned)cp, domain, folded != NULL ? folded : "?");
			g_free(folded);
			goto out;
		}
		rc = idn2_lookup_u8((const uint8_t *)domain, (uint8_t **)&tmp,
				    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK) {
			r = smp_error_set(err, SMP_ERR_BADINPUT,
					  "address has an invalid internationalised domain: %s",
					  idn2_strerror(rc));
			goto out;
		}
		domain_a = strdup(tmp);
		idn2_free(tmp);
		if (domain_a == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	for (char *p = domain_a; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if ((res = malloc(local_len + 1 + strlen(domain_a) + 1)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(res, copy, local_len);
	res[local_len] = '@';
	strcpy(res + local_len + 1, domain_a);
	*out = res;
	res = NULL;
	r = 0;
out:
	free(copy);
	free(domain_a);
	free(res);
	return r;
}

/* 1 when a label of domain starts with the ACE prefix "xn--" (any case). */
static int has_a_label(const char *domain)
{
	for (const char *label = domain; label != NULL; label = strchr(label, '.')) {
		if (*label == '.')
			label++;
		if (strncasecmp(label, "xn--", 4) == 0)
			return 1;
	}
	return 0;
}

/* See cert.h. */
int smp_address_unicode(char **out, const char *normalized, smp_error *err)
{
	const char *at = normalized != NULL ? strrchr(normalized, '@') : NULL;
	char *u = NULL, *res, *back = NULL;
	size_t local_len;

	*out = NULL;
	if (at == NULL || !has_a_label(at + 1))
		return 0;
	if (idn2_to_unicode_8z8z(at + 1, &u, 0) != IDN2_OK || u == NULL ||
	    strcmp(u, at + 1) == 0 || !is_utf8((const unsigned char *)u, strlen(u))) {
		idn2_free(u);
		return 0;  /* not a domain libidn2 decodes: the A-label form is the only one */
	}
	local_len = (size_t)(at - normalized);
	if ((res = malloc(local_len + 1 + strlen(u) + 1)) == NULL) {
		idn2_free(u);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	memcpy(res, normalized, local_len + 1);
	strcpy(res + local_len + 1, u);
	idn2_free(u);
	/* only a form that normalises back to the address: a search never asks for another */
	if (smp_address_normalize(&back, res, strlen(res), NULL) != 0 ||
	    strcmp(back, normalized) != 0) {
		free(back);
		free(res);
		return 0;
	}
	free(back);
	*out = res;
	return 0;
}

/* 1 when a and b (normalised) name the same mailbox, compared case-insensitively. */
int smp_address_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return 0;
	return strcasecmp(a, b) == 0;
}

/* RFC 5321 atext, and RFC 6531's UTF8-non-ascii (any byte of a multi-byte sequence). */
static int is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80;
}

/* A Dot-string (RFC 5321 4.1.2): atoms of atext joined by single dots. */
static int dot_string_ok(const char *s, size_t n)
{
	size_t atom = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (atom == 0)
				return 0;
			atom = 0;
		} else if (is_atext((unsigned char)s[i])) {
			atom++;
		} else {
			return 0;
		}
	}
	return atom > 0;
}

/* A Quoted-string: qtextSMTP (or UTF-8) and quoted-pairs between double quotes. */
static int quoted_string_ok(const char *s, size_t n)
{
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			if (i + 2 >= n || (unsigned char)s[i + 1] < 32 || (unsigned char)s[i + 1] > 126)
				return 0;
			i++;
		} else if (c == '"' || (c < 32) || c == 127) {
			return 0;
		}
	}
	return 1;
}

/* An Internet domain in A-label form: two or more LDH labels of 1..63 octets, <= 253. */
static int mail_domain_ok(const char *d)
{
	size_t n = strlen(d), label = 0, labels = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = d[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return 0;
			labels++;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return 0;
		label++;
	}
	return labels >= 2;
}

int smp_address_check_mailbox(const char *addr, smp_error *err)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	size_t local;

	if (at == NULL || at == addr)
		return smp_error_set(err, SMP_ERR_BADINPUT, "'%s' has no local part and domain",
				     addr != NULL ? addr : "");
	local = (size_t)(at - addr);
	if (strlen(addr) > 254 || local > 64)
		return smp_error_set(err, SMP_ERR_BADINPUT, "'%s' is longer than a mailbox may be "
				     "(64 octets before the @, 254 in all)", addr);
	if (!dot_string_ok(addr, local) && !quoted_string_ok(addr, local))
		return smp_error_set(err, SMP_ERR_BADINPUT, "the local part of '%s' is not a "
				     "mailbox's (RFC 5321/6531: atoms joined by single dots, or a "
				     "quoted string)", addr);
	if (!mail_domain_ok(at + 1))
		return smp_error_set(err, SMP_ERR_BADINPUT, "the domain of '%s' is not an Internet "
				     "mail domain (two or more labels of letters, digits and inner "
				     "hyphens)", addr);
	return 0;
}
