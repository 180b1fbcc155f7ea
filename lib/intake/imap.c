/*
 * smimepub intake: a mailbox over IMAP through libcurl (include/smimepub/imap.h).
 *
 * One easy handle holds the connection: libcurl logs in and SELECTs the mailbox of the URL on
 * the first request and reuses both after it (a dropped connection is made again, with a new
 * login, by the next request). Bodies come only through the URL form MAILBOX/;UID=N, which
 * libcurl frames by the literal's announced length; everything else is a command of ours whose
 * untagged replies libcurl hands over as they came (imap_reply.c reads them).
 */
#include "smimepub/imap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "imap_reply.h"
#include "smimepub/secret.h"
#include "torture.h"

/* Replies to our own commands: a SEARCH of every UID of a large mailbox is the longest */
#define REPLY_MAX (64u * 1024 * 1024)
#define TOKEN_MAX 16384  /* Entra ID access tokens are 1.5–3 KiB */
#define FOLDER_WIRE_MAX 1024  /* its modified UTF-7: at most twice as long, "&" as "&-" */

struct buf {
	char *data;
	size_t len, cap, limit;
	int over;                /* more than limit arrived: the transfer was stopped */
};

struct smp_imap {
	CURL *curl;
	char *mailbox_url;       /* scheme://host:port/MAILBOX (path as given), no user */
	char *label;             /* scheme://user@host:port/MAILBOX */
	char *user;
	char *password;          /* secret memory, or NULL */
	char *token;             /* secret memory: the last token read, or NULL */
	const char *token_file;
	unsigned caps;
	int keyword_checked;
	size_t max_size;
	char last_line[256];     /* the server's last response line (its NO text) */
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t n = size * nmemb;

	if (n > b->limit - b->len) {
		b->over = 1;
		return 0;  /* libcurl stops the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((grown = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Keeps the server's last response line, for the message of a refused command. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ctx)
{
	smp_imap *m = ctx;
	size_t n = 0;

	(void)h;
	if (type != CURLINFO_HEADER_IN || size < 2)
		return 0;
	if (data[0] == '*' || data[0] == '+')
		return 0;  /* untagged data, a continuation: not the command's verdict */
	for (size_t i = 0; i < size && n + 1 < sizeof(m->last_line); i++) {
		unsigned char ch = (unsigned char)data[i];

		if (ch == '\r' || ch == '\n')
			break;
		m->last_line[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	m->last_line[n] = '\0';
	return 0;
}

/* The server's words after the tag: "NO [TRYCREATE] Mailbox doesn't exist", or "". */
static const char *server_said(const smp_imap *m)
{
	const char *sp = strchr(m->last_line, ' ');

	return sp != NULL ? sp + 1 : "";
}

/* Reads the token file again (an outside refresher may have replaced it). */
static int reload_token(smp_imap *m, smp_error *err)
{
	char *tok = NULL;
	int fd = -1, r;
	size_t len = 0;

	if (m->token_file == NULL)
		return 0;
	if ((fd = open(m->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return smp_error_set(err, SMP_ERR_NOFILE, "cannot read the OAuth2 token file '%s': "
				     "%s", m->token_file, strerror(errno));
	if ((tok = smp_secret_alloc(TOKEN_MAX + 2)) == NULL) {
		close(fd);
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	for (;;) {
		ssize_t got = read(fd, tok + len, TOKEN_MAX + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = smp_error_set(err, SMP_ERR_NOFILE, "cannot read the OAuth2 token file "
					  "'%s': %s", m->token_file, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > TOKEN_MAX) {
			r = smp_error_set(err, SMP_ERR_BADINPUT, "the OAuth2 token file '%s' is "
					  "too large", m->token_file);
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
		len--;
	tok[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) {
			r = smp_error_set(err, SMP_ERR_BADINPUT, "the OAuth2 token file '%s' holds "
					  "more than one token (a space or a control byte)",
					  m->token_file);
			goto fail;
		}
	if (len == 0) {
		r = smp_error_set(err, SMP_ERR_BADINPUT, "the OAuth2 token file '%s' is empty",
				  m->token_file);
		goto fail;
	}
	if (m->token == NULL || strcmp(m->token, tok) != 0) {
		/* a new token: libcurl will not reuse a connection logged in with another */
		smp_secret_free(m->token);
		m->token = tok;
		if (curl_easy_setopt(m->curl, CURLOPT_XOAUTH2_BEARER, m->token) != CURLE_OK) {
			smp_secret_free(m->token);
			m->token = NULL;  /* set again by the next request */
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
	} else {
		smp_secret_free(tok);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	smp_secret_free(tok);
	return r;
}

/* What a failed transfer means, as an smp error (what says, in err). */
static int curl_failed(smp_imap *m, CURLcode rc, const char *what, smp_error *err)
{
	const char *detail = m->errbuf[0] != '\0' ? m->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_LOGIN_DENIED:
		/* libcurl says this also when SELECT is refused */
		if (strstr(m->errbuf, "elect") != NULL)
			return smp_error_set(err, SMP_ERR_NOTFOUND, "cannot open the mailbox of '%s': "
					     "%s", m->label, server_said(m));
		return smp_error_set(err, SMP_ERR_ACCESS, "the IMAP server refused the login of "
				     "'%s' at '%s'%s%s", m->user, m->label,
				     m->token_file != NULL ? " (OAuth2 token from " : "",
				     m->token_file != NULL ? "the token file)" : "");
	case CURLE_PEER_FAILED_VERIFICATION:
		return smp_error_set_hint(err, SMP_ERR_UNAVAILABLE, SMP_HINT_IMAP_CA,
					  "cannot verify the IMAP server's certificate at '%s': %s",
					  m->label, detail);
	case CURLE_USE_SSL_FAILED:
		return smp_error_set_hint(err, SMP_ERR_UNAVAILABLE, SMP_HINT_IMAP_STARTTLS,
					  "the IMAP server at '%s' does not offer STARTTLS: the "
					  "password would cross the network in clear text", m->label);
	case CURLE_QUOTE_ERROR:
		return smp_error_set(err, SMP_ERR_LDAP, "the IMAP server refused %s: %s", what,
				     server_said(m));
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return smp_error_set(err, SMP_ERR_NOTFOUND, "not in '%s' (%s)", m->label, what);
	case CURLE_OUT_OF_MEMORY:
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	default:
		return smp_error_set(err, SMP_ERR_UNAVAILABLE, "IMAP server at '%s' unavailable "
				     "(%s): %s", m->label, what, detail);
	}
}

/*
 * One request: url (NULL: the mailbox's), command (NULL: fetch what url names), its output into
 * out (limit bytes at most). Returns 0 or an error.
 */
static int request(smp_imap *m, const char *url, const char *command, struct buf *out,
		   size_t limit, smp_error *err)
{
	CURLcode rc;
	int r;

	out->len = 0;
	out->over = 0;
	out->limit = limit;
	if ((r = reload_token(m, err)) != 0)
		return r;
	m->errbuf[0] = '\0';
	m->last_line[0] = '\0';
	if (curl_easy_setopt(m->curl, CURLOPT_URL, url != NULL ? url : m->mailbox_url) != CURLE_OK ||
	    curl_easy_setopt(m->curl, CURLOPT_CUSTOMREQUEST, command) != CURLE_OK)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	curl_easy_setopt(m->curl, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(m->curl);
	if (rc == CURLE_OK)
		return 0;
	if (rc == CURLE_WRITE_ERROR && out->over)
		return smp_error_set(err, SMP_ERR_BADINPUT, "more than %zu bytes", limit);
	if (rc == CURLE_WRITE_ERROR)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	return curl_failed(m, rc, command != NULL ? command : "FETCH", err);
}

/* A command of ours (printf-style) on the mailbox; its reply into out. */
static int command(smp_imap *m, struct buf *out, smp_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int command(smp_imap *m, struct buf *out, smp_error *err, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return smp_error_set(err, SMP_ERR_USAGE, "an IMAP command too long");
	return request(m, NULL, cmd, out, REPLY_MAX, err);
}

const char *smp_imap_label(const smp_imap *m)
{
	return m->label;
}

/* Checks folder and writes its name on the wire into wire (FOLDER_WIRE_MAX): 0, or the
 * imap_mailbox_name error (SMP_ERR_BADINPUT for a name this client will not send). */
static int folder_name(const char *folder, char *wire)
{
	if (folder == NULL || *folder == '\0' || strlen(folder) > SMP_IMAP_FOLDER_MAX)
		return SMP_ERR_BADINPUT;
	for (const char *p = folder; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return SMP_ERR_BADINPUT;
	return imap_mailbox_name(folder, strlen(folder), wire, FOLDER_WIRE_MAX);
}

int smp_imap_folder_ok(const char *folder)
{
	char wire[FOLDER_WIRE_MAX];

	return folder_name(folder, wire) == 0;
}

/* The folder's name on the wire into wire (FOLDER_WIRE_MAX), or an error naming it. */
static int folder_wire(const char *folder, char *wire, smp_error *err)
{
	int r = folder_name(folder, wire);

	if (r == SMP_ERR_NOMEM)
		return smp_error_set(err, r, "out of memory");
	if (r != 0)
		return smp_error_set(err, SMP_ERR_USAGE, "folder name '%s' is not one this client "
				     "can name: UTF-8 of at most %d bytes, without control "
				     "characters, '\"' and '\\'", folder, SMP_IMAP_FOLDER_MAX);
	return 0;
}

/*
 * The mailbox of the URL's path (percent-decoded, UTF-8) as a URL path libcurl decodes back
 * to the name the server knows (modified UTF-7, each '/'-separated part URL-escaped by libcurl).
 */
static int mailbox_path(const char *url, const char *decoded, char **out, smp_error *err)
{
	char wire[FOLDER_WIRE_MAX * 2];
	size_t len = strlen(decoded), cap, n = 0;
	char *path;
	int r;

	while (len > 0 && decoded[len - 1] == '/')
		len--;
	if (len > SMP_IMAP_FOLDER_MAX * 2)
		return smp_error_set(err, SMP_ERR_USAGE, "'%s': the mailbox name is longer than "
				     "%d bytes", url, SMP_IMAP_FOLDER_MAX * 2);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)decoded[i] < 0x20 || decoded[i] == 0x7f)
			return smp_error_set(err, SMP_ERR_USAGE, "'%s': the mailbox name holds a "
					     "control character", url);
	if ((r = imap_mailbox_name(decoded, len, wire, sizeof(wire))) == SMP_ERR_NOMEM)
		return smp_error_set(err, r, "out of memory");
	if (r != 0)
		return smp_error_set(err, SMP_ERR_USAGE, "'%s': the mailbox name %s", url,
				     r == SMP_ERR_USAGE ? "is not ASCII and this system's iconv "
				     "cannot write IMAP's modified UTF-7" : "is not valid UTF-8");
	cap = strlen(wire) * 3 + 2;
	if ((path = malloc(cap)) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	for (const char *p = wire;; p += strcspn(p, "/") + 1) {
		size_t part = strcspn(p, "/");
		char *esc = curl_easy_escape(NULL, p, (int)part);

		if (esc == NULL) {
			free(path);
			return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		}
		n += (size_t)snprintf(path + n, cap - n, "/%s", esc);
		curl_free(esc);
		if (p[part] == '\0')
			break;
	}
	*out = path;
	return 0;
}

/* Takes the URL apart: checks it, and keeps the mailbox's URL, the label and the user. */
static int parse_url(smp_imap *m, const char *url, smp_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *port = NULL, *path = NULL,
	     *query = NULL, *frag = NULL, *ruser = NULL, *dpath = NULL, *wpath = NULL;
	int r = SMP_ERR_USAGE;

	if (u == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		smp_error_set(err, r, "'%s' is not a URL: give imaps://USER@HOST[:PORT]/MAILBOX",
			      url);
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_USER, &ruser, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_PATH, &dpath, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (scheme == NULL || (strcasecmp(scheme, "imap") != 0 && strcasecmp(scheme, "imaps") != 0))
		smp_error_set(err, r, "'%s' is not an imap:// or imaps:// URL", url);
	else if (pass != NULL)
		smp_error_set(err, r, "'%s' holds a password: a password never goes on the "
			      "command line (it shows in the process list)", url);
	else if (user == NULL || *user == '\0')
		smp_error_set(err, r, "'%s' names no user: give imaps://USER@HOST/MAILBOX (an "
			      "address as user: %%40 for its '@')", url);
	else if (host == NULL || *host == '\0')
		smp_error_set(err, r, "'%s' names no host", url);
	else if (query != NULL || frag != NULL || (path != NULL && strchr(path, ';') != NULL))
		smp_error_set(err, r, "'%s' names more than a mailbox (a ;UID=, a search, a "
			      "fragment): give imaps://USER@HOST/MAILBOX", url);
	else if (dpath == NULL)
		smp_error_set(err, r, "'%s' names a mailbox that is not a name (a %%00)", url);
	else
		r = 0;
	if (r != 0)
		goto out;
	{
		const char *mbox = path != NULL && strcmp(path, "/") != 0 ? path : "/INBOX";
		size_t ml = strlen(mbox);

		while (ml > 1 && mbox[ml - 1] == '/')
			ml--;
		if ((r = mailbox_path(url, strcmp(dpath, "/") != 0 ? dpath + 1 : "INBOX", &wpath,
				      err)) != 0)
			goto out;
		if (asprintf(&m->mailbox_url, "%s://%s:%s%s", scheme, host, port, wpath) < 0 ||
		    asprintf(&m->label, "%s://%s@%s:%s%.*s", scheme, ruser, host, port, (int)ml,
			     mbox) < 0 ||
		    (m->user = strdup(user)) == NULL) {
			r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(ruser);
	curl_free(pass);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(dpath);
	free(wpath);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return r;
}

int smp_imap_check_url(const char *url, smp_error *err)
{
	smp_imap m;
	int r;

	memset(&m, 0, sizeof(m));
	r = parse_url(&m, url, err);
	free(m.mailbox_url);
	free(m.label);
	free(m.user);
	return r;
}

int smp_imap_open(smp_imap **out, const smp_imap_options *o, smp_error *err)
{
	smp_imap *m = NULL;
	struct buf reply = { 0 };
	long timeout;
	CURLcode cc;
	int r;

	*out = NULL;
	if (o == NULL || o->version != SMP_IMAP_VERSION || o->url == NULL)
		return smp_error_set(err, SMP_ERR_USAGE, "IMAP options of an unknown version");
	if ((o->password == NULL) == (o->token_file == NULL))
		return smp_error_set(err, SMP_ERR_USAGE, "an IMAP login needs a password or an "
				     "OAuth2 token file (one of them)");
#ifdef SMP_TORTURE
	cc = (CURLcode)smp_torture_curl_init();
#else
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
#endif
	if (cc == CURLE_OUT_OF_MEMORY)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if (cc != CURLE_OK)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot start libcurl: %s",
				     curl_easy_strerror(cc));
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	if ((r = parse_url(m, o->url, err)) != 0)
		goto fail;
	m->token_file = o->token_file;
	m->max_size = o->max_size > 0 ? o->max_size : SMP_IMAP_MAX_SIZE_DEFAULT;
	if (o->password != NULL && (m->password = smp_secret_strdup(o->password)) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((m->curl = curl_easy_init()) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	timeout = o->timeout > 0 ? o->timeout : 30;
	/* the options libcurl copies can fail for want of memory, and one left unset would not
	   be noticed (no protocol limit, the system's CAs, another command) */
	if (curl_easy_setopt(m->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps") != CURLE_OK ||
	    curl_easy_setopt(m->curl, CURLOPT_USERNAME, m->user) != CURLE_OK ||
	    (m->password != NULL &&
	     curl_easy_setopt(m->curl, CURLOPT_PASSWORD, m->password) != CURLE_OK) ||
	    (o->ca_file != NULL &&
	     curl_easy_setopt(m->curl, CURLOPT_CAINFO, o->ca_file) != CURLE_OK)) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	curl_easy_setopt(m->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(m->curl, CURLOPT_ERRORBUFFER, m->errbuf);
	curl_easy_setopt(m->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(m->curl, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(m->curl, CURLOPT_DEBUGDATA, m);
	curl_easy_setopt(m->curl, CURLOPT_VERBOSE, 1L);  /* for on_debug only: nothing printed */
	/* imap://: STARTTLS or nothing, unless clear text was allowed */
	curl_easy_setopt(m->curl, CURLOPT_USE_SSL, o->insecure ? (long)CURLUSESSL_TRY
							       : (long)CURLUSESSL_ALL);
	curl_easy_setopt(m->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(m->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	/* one connection, kept: resuming a TLS session saves little, and libcurl 7.88's session
	   cache frees twice when an allocation in it fails (tests: TortureImap, alloc) */
	curl_easy_setopt(m->curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(m->curl, CURLOPT_CONNECTTIMEOUT, timeout);
	/* a server that stops answering mid-transfer: no more than a byte in timeout seconds */
	curl_easy_setopt(m->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(m->curl, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(m->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* logs in and SELECTs the mailbox, then asks what the server can do once logged in */
	if ((r = request(m, NULL, "CAPABILITY", &reply, REPLY_MAX, err)) != 0)
		goto fail;
	if (!imap_reply_has(reply.data, reply.len, "CAPABILITY")) {
		/* without it MOVE and UIDPLUS would look absent: messages copied, left \Deleted */
		r = smp_error_set(err, SMP_ERR_UNAVAILABLE, "the IMAP server at '%s' answered "
				  "CAPABILITY without its capabilities", m->label);
		goto fail;
	}
	m->caps = imap_reply_caps(reply.data, reply.len);
	free(reply.data);
	*out = m;
	return 0;
fail:
	free(reply.data);
	smp_imap_close(m);
	return r;
}

int smp_imap_ensure_folder(smp_imap *m, const char *folder, smp_error *err)
{
	struct buf reply = { 0 };
	char wire[FOLDER_WIRE_MAX];
	int r;

	if ((r = folder_wire(folder, wire, err)) != 0)
		return r;
	if ((r = command(m, &reply, err, "LIST \"\" \"%s\"", wire)) == 0 &&
	    !imap_reply_has(reply.data, reply.len, "LIST"))
		r = command(m, &reply, err, "CREATE \"%s\"", wire);
	free(reply.data);
	return r;
}

static int search(smp_imap *m, const char *criteria, uint32_t **uids, size_t *n, smp_error *err)
{
	struct buf reply = { 0 };
	int r;

	*uids = NULL;
	*n = 0;
	if ((r = command(m, &reply, err, "UID SEARCH %s", criteria)) == 0 &&
	    (r = imap_reply_search(reply.data, reply.len, uids, n)) != 0)
		r = r == SMP_ERR_NOMEM ? smp_error_set(err, r, "out of memory")
				       : smp_error_set(err, r, "the IMAP server's SEARCH reply is "
						       "not a list of UIDs");
	free(reply.data);
	return r;
}

int smp_imap_new_messages(smp_imap *m, uint32_t **uids, size_t *n, smp_error *err)
{
	return search(m, "UNDELETED UNKEYWORD " SMP_IMAP_KEYWORD, uids, n, err);
}

int smp_imap_unfiled_messages(smp_imap *m, uint32_t **uids, size_t *n, smp_error *err)
{
	return search(m, "UNDELETED", uids, n, err);
}

int smp_imap_probe(smp_imap *m, uint32_t uid, uint64_t *size, int *seen, smp_error *err)
{
	struct buf reply = { 0 };
	int r;

	if ((r = command(m, &reply, err, "UID FETCH %u (FLAGS RFC822.SIZE)", uid)) == 0 &&
	    imap_reply_probe(reply.data, reply.len, uid, size, seen) != 0)
		r = smp_error_set(err, SMP_ERR_NOTFOUND, "message UID %u is gone from '%s'", uid,
				  m->label);
	free(reply.data);
	return r;
}

int smp_imap_fetch(smp_imap *m, uint32_t uid, unsigned char **data, size_t *len,
		   smp_error *err)
{
	struct buf body = { 0 };
	char *url = NULL;
	int r;

	*data = NULL;
	*len = 0;
	if (asprintf(&url, "%s/;UID=%u", m->mailbox_url, uid) < 0)
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	r = request(m, url, NULL, &body, m->max_size, err);
	free(url);
	if (r == SMP_ERR_BADINPUT) {
		r = smp_error_set(err, r, "message UID %u is larger than the limit of %zu bytes",
				  uid, m->max_size);
	} else if (r == 0 && body.len == 0) {
		r = smp_error_set(err, SMP_ERR_NOTFOUND, "message UID %u is gone from '%s'", uid,
				  m->label);
	} else if (r == 0) {
		*data = (unsigned char *)body.data;
		*len = body.len;
		return 0;
	}
	free(body.data);
	return r;
}

int smp_imap_unsee(smp_imap *m, uint32_t uid, smp_error *err)
{
	struct buf reply = { 0 };
	int r = command(m, &reply, err, "UID STORE %u -FLAGS.SILENT (\\Seen)", uid);

	free(reply.data);
	return r;
}

int smp_imap_mark(smp_imap *m, uint32_t uid, int verify, smp_error *err)
{
	struct buf reply = { 0 };
	uint32_t *uids = NULL;
	size_t n = 0;
	int r;

	if ((r = command(m, &reply, err, "UID STORE %u +FLAGS.SILENT (%s)", uid,
			 SMP_IMAP_KEYWORD)) != 0 || !verify || m->keyword_checked)
		goto out;
	/* a server may accept a keyword it does not keep (PERMANENTFLAGS without \*) */
	if ((r = command(m, &reply, err, "UID SEARCH UID %u KEYWORD %s", uid,
			 SMP_IMAP_KEYWORD)) != 0)
		goto out;
	if (imap_reply_search(reply.data, reply.len, &uids, &n) != 0 || n != 1 || uids[0] != uid) {
		r = smp_error_set_hint(err, SMP_ERR_USAGE, SMP_HINT_IMAP_KEYWORD, "the IMAP server "
				       "at '%s' does not keep the keyword %s, so a processed "
				       "message cannot be told from a new one", m->label,
				       SMP_IMAP_KEYWORD);
		goto out;
	}
	m->keyword_checked = 1;
out:
	free(uids);
	free(reply.data);
	return r;
}

int smp_imap_move(smp_imap *m, uint32_t uid, const char *folder, int *left, smp_error *err)
{
	struct buf reply = { 0 };
	char wire[FOLDER_WIRE_MAX];
	int r;

	if (left != NULL)
		*left = 0;
	if ((r = folder_wire(folder, wire, err)) != 0)
		return r;
	if (m->caps & IMAP_CAP_MOVE) {
		r = command(m, &reply, err, "UID MOVE %u \"%s\"", uid, wire);
	} else if ((r = command(m, &reply, err, "UID COPY %u \"%s\"", uid, wire)) == 0 &&
		   (r = command(m, &reply, err, "UID STORE %u +FLAGS.SILENT (\\Deleted)", uid)) == 0) {
		/* UID EXPUNGE removes this message alone; a plain EXPUNGE would take every
		   message another client flagged \Deleted too */
		if (m->caps & IMAP_CAP_UIDPLUS)
			r = command(m, &reply, err, "UID EXPUNGE %u", uid);
		else if (left != NULL)
			*left = 1;
	}
	free(reply.data);
	return r;
}

void smp_imap_close(smp_imap *m)
{
	if (m == NULL)
		return;
	if (m->curl != NULL)
		curl_easy_cleanup(m->curl);  /* says LOGOUT on a live connection */
	free(m->mailbox_url);
	free(m->label);
	free(m->user);
	smp_secret_free(m->password);
	smp_secret_free(m->token);
	free(m);
}
