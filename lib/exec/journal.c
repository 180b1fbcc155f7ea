/* smimepub: journal of inverse changes and LDIF output (SPEC §4). */
#include "smimepub/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <ldif.h>

struct smp_journal {
	char *path;
	int fd;
	int rw_fd;            /* for voiding records in place (no O_APPEND); -1 until needed */
};

struct smp_journal_batch {
	char *text;           /* the records, back to back */
	size_t len;
	size_t *start;        /* record i is text[start[i] .. start[i] + size[i]) */
	size_t *size;
	size_t n, cap;
	off_t file_off;       /* where text landed in the file, -1 before commit */
};

/* Writes one LDIF line made by libldap (wrapped at wrap columns, 0 = LDIF default). */
static int put(FILE *fp, int type, const char *name, const char *val, ber_len_t len,
	       ber_len_t wrap, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *line = NULL;

	line = ldif_put_wrap(type, name, val, len, wrap);
	if (line == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot format LDIF line '%s': out of memory",
				  name != NULL ? name : "#");
		goto out;
	}
	if (fputs(line, fp) == EOF) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF: %s", strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (line != NULL)
		ber_memfree(line);
	return r;
}

static int put_raw(FILE *fp, const char *text, smp_error *err)
{
	if (fputs(text, fp) == EOF)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF: %s", strerror(errno));
	return 0;
}

/* A comment on one line: control characters become spaces. */
static int put_comment(FILE *fp, const char *comment, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *text = NULL;
	size_t i;

	text = strdup(comment);
	if (text == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot copy LDIF comment: out of memory");
		goto out;
	}
	for (i = 0; text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	}
	r = put(fp, LDIF_PUT_COMMENT, NULL, text, strlen(text), LDIF_LINE_WIDTH_MAX, err);
out:
	free(text);
	return r;
}

static int put_dn(FILE *fp, const char *dn, const char *comment, const char *changetype,
		  smp_error *err)
{
	int r;

	if (comment != NULL && (r = put_comment(fp, comment, err)) != 0)
		return r;
	if ((r = put(fp, LDIF_PUT_VALUE, "dn", dn, strlen(dn), 0, err)) != 0)
		return r;
	return put(fp, LDIF_PUT_VALUE, "changetype", changetype, strlen(changetype), 0, err);
}

static int put_mod(FILE *fp, const char *op, const char *attr, const struct berval *vals,
		   size_t n, smp_error *err)
{
	int r;
	size_t i;

	if (n == 0)
		return 0;
	if ((r = put(fp, LDIF_PUT_VALUE, op, attr, strlen(attr), 0, err)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		r = put(fp, LDIF_PUT_BINARY, attr, vals[i].bv_val, vals[i].bv_len, 0, err);
		if (r != 0)
			return r;
	}
	return put_raw(fp, "-\n", err);
}

static int changes_empty(const smp_change *changes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (changes[i].n_del > 0 || changes[i].n_add > 0)
			return 0;
	}
	return 1;
}

/*
 * Writes the LDIF modify record for changes to dn: every deletion first, then every addition,
 * values always base64. Writes nothing when no change holds a value. Returns 0, or
 * SMP_ERR_INTERNAL when fp cannot be written.
 */
int smp_ldif_write_modify(FILE *fp, const char *dn, const smp_change *changes, size_t n,
			  const char *comment, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	size_t i;

	if (changes_empty(changes, n))
		return 0;
	if ((r = put_dn(fp, dn, comment, "modify", err)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		r = put_mod(fp, "delete", changes[i].attr, changes[i].del, changes[i].n_del, err);
		if (r != 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		r = put_mod(fp, "add", changes[i].attr, changes[i].add, changes[i].n_add, err);
		if (r != 0)
			goto out;
	}
	if ((r = put_raw(fp, "\n", err)) != 0)
		goto out;
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF record for '%s'", dn);
		goto out;
	}
	r = 0;
out:
	return r;
}

/*
 * Writes an LDIF add record (with changetype: add, so `ldapmodify -f` takes it without -a):
 * attrs[i] with its one value values[i]. Returns 0 or SMP_ERR_INTERNAL.
 */
int smp_ldif_write_add(FILE *fp, const char *dn, const char *const *attrs,
		       const struct berval *const *values, size_t n, const char *comment,
		       smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	size_t i;

	if ((r = put_dn(fp, dn, comment, "add", err)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		r = put(fp, LDIF_PUT_VALUE, attrs[i], values[i]->bv_val, values[i]->bv_len, 0, err);
		if (r != 0)
			goto out;
	}
	if ((r = put_raw(fp, "\n", err)) != 0)
		goto out;
	if (ferror(fp)) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot write LDIF record for '%s'", dn);
		goto out;
	}
	r = 0;
out:
	return r;
}

/* Creates every missing directory above the file path, mode 0700. */
static int mkdir_parents(const char *path, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *dir = NULL;
	char *p, c;

	dir = strdup(path);
	if (dir == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot copy journal path: out of memory");
		goto out;
	}
	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		r = 0;
		goto out;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot create directory '%s': %s",
					  dir, strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	r = 0;
out:
	free(dir);
	return r;
}

static int default_path(char **out, smp_error *err)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;

	*out = NULL;
	if (state != NULL && state[0] == '/') {
		if (asprintf(out, "%s/smimepub/journal.ldif", state) < 0)
			goto nomem;
		return 0;
	}
	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] == '\0') 
		return smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_JOURNAL_PATH,
			      "cannot place the journal: neither XDG_STATE_HOME nor HOME is set");
	if (asprintf(out, "%s/.local/state/smimepub/journal.ldif", home) < 0)
		goto nomem;
	return 0;
nomem:
	*out = NULL;
	return smp_error_set(err, SMP_ERR_NOMEM, "cannot build journal path: out of memory");
}

/*
 * Opens the journal for appending (O_APPEND, created 0600, missing directories 0700).
 * Returns 0 and a journal closed with smp_journal_close; SMP_ERR_NOFILE when it cannot be
 * created or opened; SMP_ERR_USAGE when no default location can be found.
 */
int smp_journal_open(smp_journal **out, const char *path, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_journal *j = NULL;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot open journal: out of memory");
		goto out;
	}
	j->fd = -1;
	j->rw_fd = -1;
	if (path != NULL) {
		j->path = strdup(path);
		if (j->path == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "cannot open journal: out of memory");
			goto out;
		}
	} else if ((r = default_path(&j->path, err)) != 0) {
		goto out;
	}
	if ((r = mkdir_parents(j->path, err)) != 0)
		goto out;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		r = smp_error_set(err, SMP_ERR_NOFILE, "cannot open journal '%s': %s", j->path,
				  strerror(errno));
		goto out;
	}
	*out = j;
	j = NULL;
	r = 0;
out:
	smp_journal_close(j);
	return r;
}

/* Appends text in one write (O_APPEND keeps concurrent records whole) and syncs it. */
static int journal_append(smp_journal *j, const char *text, size_t len, smp_error *err)
{
	size_t done = 0;
	ssize_t w;

	while (done < len) {
		w = write(j->fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return smp_error_set(err, SMP_ERR_INTERNAL, "cannot write journal '%s': %s",
					     j->path, w < 0 ? strerror(errno) : "short write");
		done += (size_t)w;
	}
	if (fsync(j->fd) != 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot sync journal '%s': %s", j->path,
				     strerror(errno));
	return 0;
}

static void undo_comment(char *buf, size_t size, const char *what, const char *dn)
{
	char when[32];
	struct tm tm;
	time_t now = time(NULL);

	if (gmtime_r(&now, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)now);
	snprintf(buf, size, "smimepub %s undo of %s '%s'", when, what, dn);
}

/*
 * The text of the inverse record of changes to dn (additions become deletions and the other
 * way round, both in their original order, so a reorder is undone too), malloc'd in *out, or
 * *outlen 0 when the changes hold no value.
 */
static int inverse_text(char **out, size_t *outlen, const char *dn, const smp_change *changes,
			size_t n, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	smp_change *inverse = NULL;
	char *text = NULL;
	size_t len = 0, i;
	FILE *mem = NULL;
	char comment[1024];

	*out = NULL;
	*outlen = 0;
	if (changes_empty(changes, n))
		return 0;
	inverse = calloc(n, sizeof(*inverse));
	mem = open_memstream(&text, &len);
	if (inverse == NULL || mem == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		inverse[i].attr = changes[i].attr;
		inverse[i].del = changes[i].add;
		inverse[i].n_del = changes[i].n_add;
		inverse[i].add = changes[i].del;
		inverse[i].n_add = changes[i].n_del;
	}
	undo_comment(comment, sizeof(comment), "change to", dn);
	if ((r = smp_ldif_write_modify(mem, dn, inverse, n, comment, err)) != 0)
		goto out;
	if (fclose(mem) != 0) {
		mem = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
		goto out;
	}
	mem = NULL;
	*out = text;
	*outlen = len;
	text = NULL;
	r = 0;
out:
	if (mem != NULL)
		fclose(mem);
	free(text);
	free(inverse);
	return r;
}

int smp_journal_batch_new(smp_journal_batch **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return SMP_ERR_NOMEM;
	(*out)->file_off = -1;
	return 0;
}

void smp_journal_batch_free(smp_journal_batch *b)
{
	if (b == NULL)
		return;
	free(b->text);
	free(b->start);
	free(b->size);
	free(b);
}

size_t smp_journal_batch_count(const smp_journal_batch *b)
{
	return b->n;
}

int smp_journal_batch_add(smp_journal_batch *b, const char *dn, const smp_change *changes,
			  size_t n, size_t *id, smp_error *err)
{
	char *text = NULL, *grown;
	size_t len = 0;
	int r;

	if (b->file_off >= 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "journal batch already written");
	if ((r = inverse_text(&text, &len, dn, changes, n, err)) != 0)
		return r;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		size_t *st = realloc(b->start, cap * sizeof(*st));

		if (st != NULL)
			b->start = st;
		st = st != NULL ? realloc(b->size, cap * sizeof(*st)) : NULL;
		if (st == NULL) {
			free(text);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		b->size = st;
		b->cap = cap;
	}
	if ((grown = realloc(b->text, b->len + len + 1)) == NULL) {
		free(text);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	b->text = grown;
	if (len > 0)
		memcpy(b->text + b->len, text, len);
	b->text[b->len + len] = '\0';
	b->start[b->n] = b->len;
	b->size[b->n] = len;
	b->len += len;
	*id = b->n++;
	free(text);
	return 0;
}

int smp_journal_batch_commit(smp_journal *j, smp_journal_batch *b, smp_error *err)
{
	off_t end;
	int r;

	if (b->file_off >= 0)
		return 0;
	if (b->len == 0) {
		b->file_off = 0;
		return 0;
	}
	if ((r = journal_append(j, b->text, b->len, err)) != 0)
		return r;
	/* O_APPEND: the offset is now the end of what this write put there */
	end = lseek(j->fd, 0, SEEK_CUR);
	if (end < 0 || (size_t)end < b->len)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot locate the journal records in '%s'",
				     j->path);
	b->file_off = end - (off_t)b->len;
	return 0;
}

int smp_journal_batch_void(smp_journal *j, smp_journal_batch *b, size_t id, smp_error *err)
{
	char *mine = NULL, *disk = NULL;
	size_t len;
	off_t at;
	ssize_t got;
	int r = SMP_ERR_INTERNAL;

	if (id >= b->n || b->file_off < 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "no such journal record");
	len = b->size[id];
	if (len == 0)
		return 0;
	at = b->file_off + (off_t)b->start[id];
	if (j->rw_fd < 0 && (j->rw_fd = open(j->path, O_RDWR | O_CLOEXEC)) < 0)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot open journal '%s': %s", j->path,
				     strerror(errno));
	mine = malloc(len);
	disk = malloc(len);
	if (mine == NULL || disk == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* a record already voided (or a file changed behind our back) is left alone */
	got = pread(j->rw_fd, disk, len, at);
	if (got != (ssize_t)len || memcmp(disk, b->text + b->start[id], len) != 0) {
		r = 0;
		goto out;
	}
	memcpy(mine, disk, len);
	/* every line of the record becomes a comment line: same length, nothing left to apply */
	for (size_t i = 0; i < len; i++)
		if ((i == 0 || mine[i - 1] == '\n') && mine[i] != '\n')
			mine[i] = '#';
	if (pwrite(j->rw_fd, mine, len, at) != (ssize_t)len || fsync(j->rw_fd) != 0) {
		r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot void a record of journal '%s': %s",
				  j->path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	free(mine);
	free(disk);
	return r;
}

int smp_journal_record(smp_journal *j, const char *dn, const smp_change *changes, size_t n,
		       smp_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if ((r = inverse_text(&text, &len, dn, changes, n, err)) == 0 && len > 0)
		r = journal_append(j, text, len, err);
	free(text);
	return r;
}

/* Appends the inverse of creating dn (a delete record) and syncs it. Returns 0 or an error. */
int smp_journal_record_add(smp_journal *j, const char *dn, smp_error *err)
{
	int r = SMP_ERR_INTERNAL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	char comment[1024];

	mem = open_memstream(&text, &len);
	if (mem == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
		goto out;
	}
	undo_comment(comment, sizeof(comment), "creation of", dn);
	if ((r = put_dn(mem, dn, comment, "delete", err)) != 0)
		goto out;
	if ((r = put_raw(mem, "\n", err)) != 0)
		goto out;
	if (fclose(mem) != 0) {
		mem = NULL;
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot record journal entry: out of memory");
		goto out;
	}
	mem = NULL;
	if ((r = journal_append(j, text, len, err)) != 0)
		goto out;
	r = 0;
out:
	if (mem != NULL)
		fclose(mem);
	free(text);
	return r;
}

/* The journal's file name, owned by j. */
const char *smp_journal_path(const smp_journal *j)
{
	return j->path;
}

/* Closes j (NULL is fine). */
void smp_journal_close(smp_journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->rw_fd >= 0)
		close(j->rw_fd);
	free(j->path);
	free(j);
}
