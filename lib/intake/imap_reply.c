/*
 * smimepub intake: the untagged replies of the harvester's own IMAP commands (imap_reply.h).
 * libcurl frames them (it reads a literal by its announced length); what is left is a line of
 * atoms, numbers and parenthesised lists, read here token by token and never past len. And
 * the one thing of ours printf cannot write: a mailbox name in modified UTF-7.
 */
#include "imap_reply.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smimepub/error.h"

/* A cursor over one line. */
struct cur {
	const char *p, *end;
};

/* The next line of reply from *pos (without CR LF), or 0 at the end. */
static int next_line(const char *reply, size_t len, size_t *pos, struct cur *line)
{
	const char *start, *nl;

	if (*pos >= len)
		return 0;
	start = reply + *pos;
	nl = memchr(start, '\n', len - *pos);
	line->p = start;
	line->end = nl != NULL ? nl : reply + len;
	*pos = (size_t)(line->end - reply) + (nl != NULL ? 1 : 0);
	if (line->end > line->p && line->end[-1] == '\r')
		line->end--;
	return 1;
}

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* The next atom (up to a space, '(' or ')'): its start and length; 0 length at the end. */
static size_t atom(struct cur *c, const char **start)
{
	const char *s;

	skip_spaces(c);
	s = c->p;
	while (c->p < c->end && *c->p != ' ' && *c->p != '(' && *c->p != ')')
		c->p++;
	*start = s;
	return (size_t)(c->p - s);
}

static int atom_is(const char *a, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(a, word, n) == 0;
}

/* A decimal number of at most 20 digits that fits max; 0 and *v, or -1. */
static int number(const char *a, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (a[i] < '0' || a[i] > '9')
			return -1;
		if (x > (max - (uint64_t)(a[i] - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(a[i] - '0');
	}
	*v = x;
	return 0;
}

/* Whether line begins with "* " + word, and then moves past it. */
static int untagged(struct cur *line, const char *word)
{
	const char *a;
	size_t n;

	if (line->end - line->p < 2 || line->p[0] != '*' || line->p[1] != ' ')
		return 0;
	line->p += 2;
	n = atom(line, &a);
	return atom_is(a, n, word);
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int imap_reply_search(const char *reply, size_t len, uint32_t **uids, size_t *n)
{
	uint32_t *v = NULL;
	size_t nv = 0, cap = 0, pos = 0, k = 0;
	struct cur line;
	int r = SMP_ERR_BADINPUT;

	*uids = NULL;
	*n = 0;
	while (next_line(reply, len, &pos, &line)) {
		const char *a;
		size_t an;
		uint64_t x;

		if (!untagged(&line, "SEARCH"))
			continue;
		while ((an = atom(&line, &a)) > 0 || line.p < line.end) {
			if (an == 0 || number(a, an, UINT32_MAX, &x) != 0 || x == 0)
				goto out;
			if (nv == cap) {
				size_t ncap = cap == 0 ? 64 : cap * 2;
				uint32_t *grown;

				if (ncap > IMAP_SEARCH_MAX)
					ncap = IMAP_SEARCH_MAX;
				if (nv == ncap)
					goto out;
				if ((grown = realloc(v, ncap * sizeof(*v))) == NULL) {
					r = SMP_ERR_NOMEM;
					goto out;
				}
				v = grown;
				cap = ncap;
			}
			v[nv++] = (uint32_t)x;
		}
	}
	if (nv > 0) {
		qsort(v, nv, sizeof(*v), cmp_uid);
		for (size_t i = 0; i < nv; i++)
			if (k == 0 || v[k - 1] != v[i])
				v[k++] = v[i];
	}
	*uids = v;
	*n = k;
	return 0;
out:
	free(v);
	return r;
}

unsigned imap_reply_caps(const char *reply, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = { { "MOVE", IMAP_CAP_MOVE }, { "UIDPLUS", IMAP_CAP_UIDPLUS },
		      { "IDLE", IMAP_CAP_IDLE } };
	unsigned caps = 0;
	size_t pos = 0;
	struct cur line;

	while (next_line(reply, len, &pos, &line)) {
		const char *a;
		size_t an;

		if (!untagged(&line, "CAPABILITY"))
			continue;
		while ((an = atom(&line, &a)) > 0 || line.p < line.end) {
			if (an == 0) {
				line.p++;  /* a parenthesis: not in a capability list */
				continue;
			}
			for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
				if (atom_is(a, an, known[i].name))
					caps |= known[i].bit;
		}
	}
	return caps;
}

/* Reads one "( ... )" list at c, setting *seen when it holds \Seen; 0, or -1 when not a list. */
static int flag_list(struct cur *c, int *seen)
{
	skip_spaces(c);
	if (c->p >= c->end || *c->p != '(')
		return -1;
	c->p++;
	for (;;) {
		const char *a;
		size_t an = atom(c, &a);

		if (an > 0) {
			if (atom_is(a, an, "\\Seen"))
				*seen = 1;
			continue;
		}
		if (c->p < c->end && *c->p == ')') {
			c->p++;
			return 0;
		}
		return -1;  /* the end of the line, or a nested '(' (not in FLAGS) */
	}
}

int imap_reply_probe(const char *reply, size_t len, uint32_t uid, uint64_t *size, int *seen)
{
	size_t pos = 0;
	struct cur line;

	*size = 0;
	*seen = 0;
	while (next_line(reply, len, &pos, &line)) {
		const char *a;
		size_t an;
		uint64_t x, got_uid = 0, got_size = 0;
		int has_size = 0, is_seen = 0;

		/* "* 12 FETCH (UID 7 FLAGS (\Seen) RFC822.SIZE 4711)" */
		if (line.end - line.p < 2 || line.p[0] != '*' || line.p[1] != ' ')
			continue;
		line.p += 2;
		an = atom(&line, &a);
		if (number(a, an, UINT32_MAX, &x) != 0)
			continue;
		an = atom(&line, &a);
		if (!atom_is(a, an, "FETCH"))
			continue;
		skip_spaces(&line);
		if (line.p >= line.end || *line.p != '(')
			continue;
		line.p++;
		for (;;) {
			an = atom(&line, &a);
			if (an == 0)
				break;  /* ')' or the end */
			if (atom_is(a, an, "FLAGS")) {
				if (flag_list(&line, &is_seen) != 0)
					break;
				continue;
			}
			if (atom_is(a, an, "UID") || atom_is(a, an, "RFC822.SIZE")) {
				int is_uid = atom_is(a, an, "UID");
				const char *b;
				size_t bn = atom(&line, &b);

				if (number(b, bn, is_uid ? UINT32_MAX : UINT64_MAX, &x) != 0)
					break;
				if (is_uid) {
					got_uid = x;
				} else {
					got_size = x;
					has_size = 1;
				}
				continue;
			}
			break;  /* an item not asked for: the line is not one to trust */
		}
		if (got_uid == uid && has_size) {
			*size = got_size;
			*seen = is_seen;
			return 0;
		}
	}
	return SMP_ERR_NOTFOUND;
}

int imap_reply_has(const char *reply, size_t len, const char *word)
{
	size_t pos = 0;
	struct cur line;

	while (next_line(reply, len, &pos, &line))
		if (untagged(&line, word) && (line.p == line.end || *line.p == ' ' || *line.p == '('))
			return 1;
	return 0;
}

/* A mailbox name in modified UTF-7: plain ASCII without '&' is the same bytes. */
int imap_mailbox_name(const char *name, size_t len, char *out, size_t outsz)
{
	iconv_t cd;
	char *in = (char *)name, *o = out;
	size_t inleft = len, outleft = outsz - 1;
	int plain = 1;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] >= 0x7f || name[i] == '&')
			plain = 0;
	if (plain) {
		if (len >= outsz)
			return SMP_ERR_BADINPUT;
		memcpy(out, name, len);
		out[len] = '\0';
		return 0;
	}
	if ((cd = iconv_open("UTF-7-IMAP", "UTF-8")) == (iconv_t)-1)
		return errno == ENOMEM ? SMP_ERR_NOMEM : SMP_ERR_USAGE;
	if (iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &o, &outleft) == (size_t)-1) {
		iconv_close(cd);
		return SMP_ERR_BADINPUT;
	}
	iconv_close(cd);
	*o = '\0';
	return 0;
}
