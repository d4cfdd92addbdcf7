/*
 * format.c — what an alert looks like on the wire: the canonical JSON
 * object (outbox, file channel, plain JSON webhook), the Slack-compatible
 * payload, the RFC 5322 mail message and the HMAC-SHA256 signature.
 */
#include "alerting.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static const char *const SEVERITY_NAMES[] = { "info", "warning", "critical" };

const char *
format_severity_name(int sev)
{
	if (sev < 0 || sev > 2)
		return "info";
	return SEVERITY_NAMES[sev];
}

int
format_severity_parse(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (s != NULL && strcmp(s, SEVERITY_NAMES[i]) == 0)
			return i;
	return -1;
}

void
format_iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[32];

	if (ms < 0)
		t = 0;
	gmtime_r(&t, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", tmp, (int)(ms < 0 ? 0 : ms % 1000));
}

char *
format_u128(rollout_u128 v, char *buf, size_t len)
{
	char tmp[48];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v != 0 && n < sizeof(tmp));
	if (len == 0)
		return buf;
	for (size_t i = 0; i < n && i + 1 < len; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n < len ? n : len - 1] = '\0';
	return buf;
}

const char *
format_str(const json_t *alert, const char *key)
{
	const char *s = json_string_value(json_object_get(alert, key));

	return s ? s : "";
}

static const char *
nz(const char *s)
{
	return s ? s : "";
}

json_t *
format_alert_json(const struct rollout_alert *al)
{
	char when[40], planck[48];
	json_t *o, *details = NULL;
	json_error_t jerr;

	format_iso_time(al->time_ms, when, sizeof(when));
	format_u128(al->amount_planck, planck, sizeof(planck));
	if (al->details_json != NULL && al->details_json[0] != '\0')
		details = json_loads(al->details_json, JSON_REJECT_DUPLICATES, &jerr);
	if (details != NULL && !json_is_object(details)) {
		json_decref(details);
		details = NULL;
	}
	if (details == NULL && al->details_json != NULL && al->details_json[0] != '\0')
		details = json_pack("{s:s}", "raw", al->details_json);
	if (details == NULL)
		details = json_object();
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:s, s:s,"
	    " s:{s:s, s:s, s:s, s:b}, s:I, s:I, s:s, s:o}",
	    "id", al->id,
	    "key", nz(al->key),
	    "type", nz(al->type),
	    "severity", format_severity_name((int)al->severity),
	    "rollout", al->rollout ? 1 : 0,
	    "title", nz(al->title),
	    "message", nz(al->message),
	    "time", when,
	    "time_ms", (json_int_t)al->time_ms,
	    "account", nz(al->account),
	    "label", nz(al->label),
	    "amount",
	        "planck", planck,
	        "tokens", nz(al->amount_tokens),
	        "symbol", nz(al->symbol),
	        "negative", al->amount_negative ? 1 : 0,
	    "block_from", (json_int_t)al->block_from,
	    "block_to", (json_int_t)al->block_to,
	    "system", nz(al->system),
	    "details", details);
	return o;
}

/* Slack mrkdwn needs &, < and > escaped (Slack's "Formatting text" rules). */
static char *
slack_escape(const char *s)
{
	size_t n = 0;
	const char *p;
	char *out, *q;

	for (p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (p = s, q = out; *p; p++) {
		if (*p == '&') {
			memcpy(q, "&amp;", 5);
			q += 5;
		} else if (*p == '<') {
			memcpy(q, "&lt;", 4);
			q += 4;
		} else if (*p == '>') {
			memcpy(q, "&gt;", 4);
			q += 4;
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	return out;
}

/* Copy at most MAX bytes of S without splitting a UTF-8 sequence. */
static void
utf8_truncate(const char *s, size_t max, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (max >= outlen)
		max = outlen - 1;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static int
add_field(json_t *fields, const char *label, const char *value)
{
	char *esc, *text;
	int rc;

	if (value == NULL || value[0] == '\0' || json_array_size(fields) >= 10)
		return 0;
	if ((esc = slack_escape(value)) == NULL)
		return -1;
	if (asprintf(&text, "*%s*\n%s", label, esc) < 0) {
		free(esc);
		return -1;
	}
	rc = json_array_append_new(fields, json_pack("{s:s, s:s}", "type", "mrkdwn", "text", text));
	free(esc);
	free(text);
	return rc;
}

static char *
amount_text(const json_t *alert)
{
	const json_t *amt = json_object_get(alert, "amount");
	const char *tokens = format_str(amt, "tokens");
	const char *planck = format_str(amt, "planck");
	const char *sym = format_str(amt, "symbol");
	char *s = NULL;

	if (tokens[0] == '\0' && (planck[0] == '\0' || strcmp(planck, "0") == 0))
		return strdup("");
	if (tokens[0] != '\0') {
		if (asprintf(&s, "%s%s%s (%s planck)", tokens, sym[0] ? " " : "", sym, planck) < 0)
			return NULL;
	} else if (asprintf(&s, "%s%s planck", json_is_true(json_object_get(amt, "negative")) ?
	    "-" : "", planck) < 0) {
		return NULL;
	}
	return s;
}

static char *
blocks_text(const json_t *alert)
{
	json_int_t from = json_integer_value(json_object_get(alert, "block_from"));
	json_int_t to = json_integer_value(json_object_get(alert, "block_to"));
	char *s = NULL;

	if (from == 0 && to == 0)
		return strdup("");
	if (from == to || from == 0) {
		if (asprintf(&s, "#%lld", (long long)to) < 0)
			return NULL;
	} else if (asprintf(&s, "#%lld..#%lld", (long long)from, (long long)to) < 0) {
		return NULL;
	}
	return s;
}

static char *
slack_body(const json_t *alert)
{
	const char *sev = format_str(alert, "severity");
	char header[160], upper[16], *text = NULL, *msg = NULL, *ctx = NULL, *out = NULL;
	char *amount = amount_text(alert), *blocks = blocks_text(alert);
	json_t *root = NULL, *fields = NULL, *bl;
	size_t i;

	for (i = 0; sev[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ? sev[i] - 32 : sev[i]);
	upper[i] = '\0';
	if (amount == NULL || blocks == NULL)
		goto fail;
	/* header blocks hold at most 150 characters of plain text */
	utf8_truncate(format_str(alert, "title"), 150, header, sizeof(header));
	if (asprintf(&text, "[%s] %s: %s", upper, format_str(alert, "title"),
	    format_str(alert, "message")) < 0) {
		text = NULL;
		goto fail;
	}
	if ((msg = slack_escape(format_str(alert, "message"))) == NULL)
		goto fail;
	if (asprintf(&ctx, "%s · %s · id `%s`", format_str(alert, "type"),
	    format_str(alert, "time"), format_str(alert, "id")) < 0) {
		ctx = NULL;
		goto fail;
	}
	if ((fields = json_array()) == NULL)
		goto fail;
	add_field(fields, "Severity", sev);
	add_field(fields, "System", format_str(alert, "system"));
	add_field(fields, "Account", format_str(alert, "account"));
	add_field(fields, "Label", format_str(alert, "label"));
	add_field(fields, "Amount", amount);
	add_field(fields, "Blocks", blocks);
	bl = json_pack("[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}, {s:s, s:O}, {s:s, s:[{s:s, s:s}]}]",
	    "type", "header", "text", "type", "plain_text", "text", header[0] ? header : "alert",
	    "type", "section", "text", "type", "mrkdwn", "text", msg[0] ? msg : " ",
	    "type", "section", "fields", fields,
	    "type", "context", "elements", "type", "mrkdwn", "text", ctx);
	if (bl == NULL)
		goto fail;
	root = json_pack("{s:s, s:o}", "text", text, "blocks", bl);
	if (root != NULL)
		out = json_dumps(root, JSON_COMPACT);
fail:
	json_decref(root);
	json_decref(fields);
	free(text);
	free(msg);
	free(ctx);
	free(amount);
	free(blocks);
	return out;
}

char *
format_webhook_body(const json_t *alert, enum chan_format format)
{
	if (format == FORMAT_SLACK)
		return slack_body(alert);
	return json_dumps(alert, JSON_COMPACT);
}

int
format_signature(const unsigned char *secret, size_t secretlen, const char *body, size_t len,
    char *out, size_t outlen)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * crypto_auth_hmacsha256_BYTES + 1];

	if (outlen < sizeof(hex) + 7)
		return -1;
	crypto_auth_hmacsha256_init(&st, secret, secretlen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, outlen, "sha256=%s", hex);
	return 0;
}

/* A header value on one line: CR and LF (header injection) become spaces. */
static void
header_clean(char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			*s = ' ';
}

/* RFC 2047 encoded-word when S is not plain ASCII (malloc'd). */
static char *
header_encode(const char *s)
{
	const unsigned char *p;
	size_t n = strlen(s), blen;
	char *b64, *out;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			break;
	if (*p == '\0') {
		out = strdup(s);
		if (out)
			header_clean(out);
		return out;
	}
	blen = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(blen)) == NULL)
		return NULL;
	sodium_bin2base64(b64, blen, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
	if (asprintf(&out, "=?UTF-8?B?%s?=", b64) < 0)
		out = NULL;
	free(b64);
	return out;
}

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	sb_add(b, s, (size_t)n);
	free(s);
}

/* Body text with CRLF line ends; lines longer than 900 bytes are broken. */
static void
sb_body_text(struct sbuf *b, const char *s)
{
	size_t col = 0;

	for (; *s; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n') {
			sb_add(b, "\r\n", 2);
			col = 0;
			continue;
		}
		if (col >= 900 && ((unsigned char)*s & 0xc0) != 0x80) {
			sb_add(b, "\r\n", 2);
			col = 0;
		}
		sb_add(b, s, 1);
		col++;
	}
	sb_add(b, "\r\n", 2);
}

static void
sb_line(struct sbuf *b, const char *label, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	sb_printf(b, "%-10s %s", label, value);
	sb_add(b, "\n", 1);
}

char *
format_email(const json_t *alert, const char *from, char *const *to)
{
	struct sbuf b = { 0 }, body = { 0 };
	char date[64], host[128] = "localhost", upper[16], *subject = NULL, *raw = NULL;
	char *amount = amount_text(alert), *blocks = blocks_text(alert), *details = NULL;
	char *cfrom = strdup(from);
	const char *sev = format_str(alert, "severity");
	json_int_t ms = json_integer_value(json_object_get(alert, "time_ms"));
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t i;

	if (amount == NULL || blocks == NULL || cfrom == NULL)
		goto fail;
	header_clean(cfrom);
	gmtime_r(&t, &tm);
	/* RFC 5322 3.3 date-time, in English whatever the locale */
	{
		static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
		static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
			"Aug", "Sep", "Oct", "Nov", "Dec" };

		snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000",
		    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	gethostname(host, sizeof(host) - 1);
	header_clean(host);
	for (i = 0; sev[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ? sev[i] - 32 : sev[i]);
	upper[i] = '\0';
	if (asprintf(&raw, "[rolloutd %s] %s", upper, format_str(alert, "title")) < 0) {
		raw = NULL;
		goto fail;
	}
	if ((subject = header_encode(raw)) == NULL)
		goto fail;

	sb_printf(&b, "Date: %s\r\n", date);
	/* the same alert id gives the same Message-ID, so a re-delivery is recognisable */
	sb_printf(&b, "Message-ID: <%s.alert@rolloutd.%s>\r\n", format_str(alert, "id"), host);
	sb_printf(&b, "From: %s\r\n", cfrom);
	sb_add(&b, "To: ", 4);
	for (i = 0; to[i] != NULL; i++) {
		char *r = strdup(to[i]);

		if (r == NULL) {
			b.oom = 1;
			break;
		}
		header_clean(r);
		sb_printf(&b, "%s%s", i ? ", " : "", r);
		free(r);
	}
	sb_add(&b, "\r\n", 2);
	sb_printf(&b, "Subject: %s\r\n", subject);
	sb_add(&b, "MIME-Version: 1.0\r\n", 19);
	sb_add(&b, "Content-Type: text/plain; charset=utf-8\r\n", 41);
	sb_add(&b, "Content-Transfer-Encoding: 8bit\r\n", 33);
	sb_printf(&b, "X-Rollout-Alert-Id: %s\r\n", format_str(alert, "id"));
	sb_printf(&b, "X-Rollout-Severity: %s\r\n", sev);
	sb_add(&b, "Auto-Submitted: auto-generated\r\n", 32);
	sb_add(&b, "\r\n", 2);

	sb_printf(&body, "%s\n\n", format_str(alert, "title"));
	if (format_str(alert, "message")[0] != '\0')
		sb_printf(&body, "%s\n\n", format_str(alert, "message"));
	sb_line(&body, "Type:", format_str(alert, "type"));
	sb_line(&body, "Severity:", sev);
	sb_line(&body, "Time:", format_str(alert, "time"));
	sb_line(&body, "System:", format_str(alert, "system"));
	sb_line(&body, "Account:", format_str(alert, "account"));
	sb_line(&body, "Label:", format_str(alert, "label"));
	sb_line(&body, "Amount:", amount);
	sb_line(&body, "Blocks:", blocks);
	sb_line(&body, "Alert id:", format_str(alert, "id"));
	if (json_object_size(json_object_get(alert, "details")) > 0) {
		details = json_dumps(json_object_get(alert, "details"), JSON_COMPACT | JSON_SORT_KEYS);
		sb_line(&body, "Details:", details);
	}
	if (body.oom || body.p == NULL)
		goto fail;
	sb_body_text(&b, body.p);
	if (b.oom) {
		free(b.p);
		b.p = NULL;
	}
	goto out;
fail:
	free(b.p);
	b.p = NULL;
out:
	free(body.p);
	free(subject);
	free(raw);
	free(amount);
	free(blocks);
	free(details);
	free(cfrom);
	return b.p;
}

char *
format_text_line(const json_t *alert)
{
	char *amount = amount_text(alert), *s = NULL;
	const char *msg = format_str(alert, "message");

	if (amount == NULL)
		return NULL;
	if (asprintf(&s, "%s ALERT %s %s: %s%s%s%s%s [id %s]\n", format_str(alert, "time"),
	    format_str(alert, "severity"), format_str(alert, "type"), format_str(alert, "title"),
	    msg[0] ? " — " : "", msg, amount[0] ? " — " : "", amount,
	    format_str(alert, "id")) < 0)
		s = NULL;
	free(amount);
	return s;
}
