/*
 * rollout/plugin.h — the one public header a rolloutd plugin includes.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * ROLLOUT_PLUGIN_ENTRY ("rollout_plugin_entry"), a function returning a
 * pointer to a const struct rollout_plugin.  rolloutd dlopen()s it with
 * RTLD_NOW | RTLD_LOCAL, checks magic, ABI and struct size, then calls
 * init() with a host API.  See rolloutd-plugin(3).
 *
 * ABI rules (the struct can grow without breaking old plugins):
 *   - every struct here starts with (or carries) its own size;
 *   - new fields are only ever added at the end;
 *   - a reader uses a field only when the size says the field exists
 *     (ROLLOUT_HAS_FIELD below).
 *
 * Threads: init/start/stop/destroy/command/on_alert/on_event are called on
 * the runner's thread.  A plugin does its I/O on threads of its own and
 * talks back only through the host API, whose functions are thread-safe.
 * A plugin never touches rollout state directly.
 */
#ifndef ROLLOUT_PLUGIN_H
#define ROLLOUT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ROLLOUT_PLUGIN_MAGIC 0x524f4c4cu /* "ROLL" */
#define ROLLOUT_PLUGIN_ABI 1u
#define ROLLOUT_PLUGIN_ENTRY "rollout_plugin_entry"
#define ROLLOUT_EXPORT __attribute__((visibility("default")))

/* True when a struct whose leading `size` is S contains FIELD. */
#define ROLLOUT_HAS_FIELD(s, type, field) \
	((s) >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Balances are u128 planck, never floating point. */
typedef unsigned __int128 rollout_u128;

enum rollout_log_level {
	ROLLOUT_LOG_ERROR = 0,
	ROLLOUT_LOG_WARN = 1,
	ROLLOUT_LOG_INFO = 2,
	ROLLOUT_LOG_DEBUG = 3,
};

/* One vocabulary of severities across the project. */
enum rollout_severity {
	ROLLOUT_SEV_INFO = 0,
	ROLLOUT_SEV_WARNING = 1,
	ROLLOUT_SEV_CRITICAL = 2,
};

/* ---- events: plugin -> runner --------------------------------------------- */

enum rollout_event_kind {
	ROLLOUT_EV_BALANCE = 1,  /* one account's balance changed */
	ROLLOUT_EV_SNAPSHOT = 2, /* a top-N list with balances and labels */
	ROLLOUT_EV_HEALTH = 3,   /* plugin health changed */
	ROLLOUT_EV_ERROR = 4,    /* an error of some kind (also counted as a metric) */
	ROLLOUT_EV_LOG = 5,      /* a log line (PCRE2 triggers match over these) */
	ROLLOUT_EV_ACTIVITY = 6, /* an account's latest activity as a source knows it */
	ROLLOUT_EV_TRANSFER = 7, /* a transfer whose two counterparties are known */
};

/* The balance part of AccountInfo (plus nonce), u128 planck. */
struct rollout_account_data {
	uint32_t nonce;
	rollout_u128 free;
	rollout_u128 reserved;
	rollout_u128 frozen;
};

/*
 * A balance change of one account.  For the candidate (rpc_watcher) it is
 * one storage notification at one block (block_from == block_to); for the
 * baseline (subscan_poller) it is the difference between two snapshots
 * (window_start_ms..window_end_ms, block numbers 0 when unknown).
 * has_before == 0 marks an account's first observation (a baseline, not a
 * change: the runner records it and raises no alert).
 * reaped == 1 when the node reported the account's storage as null.
 * known_mask says which of free/reserved/frozen/nonce the source really saw
 * (Subscan's snapshot has no per-block frozen): ROLLOUT_KNOW_*.
 */
#define ROLLOUT_KNOW_FREE 0x1u
#define ROLLOUT_KNOW_RESERVED 0x2u
#define ROLLOUT_KNOW_FROZEN 0x4u
#define ROLLOUT_KNOW_NONCE 0x8u
#define ROLLOUT_KNOW_ALL 0xfu

struct rollout_balance_change {
	uint8_t pubkey[32];
	uint64_t block_from;          /* first block of the window (== block_to for a notification) */
	uint64_t block_to;
	uint8_t block_hash[32];       /* hash of block_to, zero if unknown */
	int64_t block_time_ms;        /* Timestamp.Now of block_to, 0 if unknown */
	int64_t window_start_ms;      /* baseline: previous snapshot time; candidate: block time */
	int64_t window_end_ms;
	int64_t observed_ms;          /* host clock when the plugin saw it */
	int has_before;
	int reaped;
	unsigned known_mask;
	struct rollout_account_data before;
	struct rollout_account_data after;
};

struct rollout_snapshot_entry {
	uint8_t pubkey[32];
	uint32_t rank;                /* 1-based */
	struct rollout_account_data data; /* frozen = Subscan balance_lock */
	rollout_u128 total;           /* Subscan's balance (free + reserved) */
	char display[64];             /* account_display.display or identity, "" if none */
	char tag_type[32];            /* merkle.tag_type, e.g. "Exchange" */
	char tag_name[64];            /* merkle.tag_name, e.g. "Binance.com" */
};

struct rollout_snapshot {
	int64_t taken_ms;             /* Subscan generated_at, ms */
	size_t count;
	const struct rollout_snapshot_entry *entries;
};

/*
 * The latest activity of one account as a source other than the account's
 * own observed history knows it (the subscan_poller: the account's latest
 * transfer on Subscan, asked once when the account is first seen).
 * found == 0: the source answered and knows of no activity at all (still
 * unknown, never "now"); last_ms is then 0.
 */
struct rollout_activity {
	uint8_t pubkey[32];
	int found;
	int64_t last_ms;              /* block time of the latest activity, ms */
	uint64_t block;               /* its block, 0 if unknown */
	char source[32];              /* e.g. "subscan.transfers" */
};

/*
 * One transfer with both counterparties known (Subscan's transfers list).
 * Labels are the source's own tags of each side ("" when none), e.g.
 * tag_type "Exchange", tag_name "Binance.com".  id is the source's stable
 * id of the transfer (extrinsic index or transfer id), used for dedup.
 */
struct rollout_transfer {
	uint8_t from[32];
	uint8_t to[32];
	rollout_u128 amount;          /* planck */
	uint64_t block;
	int64_t block_time_ms;
	char id[40];
	char from_tag_type[16];
	char from_tag_name[48];
	char to_tag_type[16];
	char to_tag_name[48];
};

struct rollout_health {
	int healthy;                  /* 1 up, 0 down */
	const char *detail;           /* e.g. "connected to ws://..., best #123" */
};

struct rollout_error {
	const char *kind;             /* short metric-safe name: "timeout", "http_5xx", "decode" */
	const char *message;
};

struct rollout_log_line {
	enum rollout_log_level level;
	const char *line;
};

/*
 * An event.  Everything it points to is owned by the caller and only needs
 * to live until emit() returns: the host copies what it keeps.
 */
struct rollout_event {
	uint32_t size;                /* sizeof(struct rollout_event) of the sender */
	enum rollout_event_kind kind;
	union {
		struct rollout_balance_change balance;
		struct rollout_snapshot snapshot;
		struct rollout_health health;
		struct rollout_error error;
		struct rollout_log_line log;
		struct rollout_activity activity;
		struct rollout_transfer transfer;
	} u;
};

/* ---- alerts: runner -> sink plugins --------------------------------------- */

/*
 * An alert as the runner hands it to a sink.  Valid only during on_alert():
 * a sink that keeps it (outbox) copies it.  Strings are never NULL ("" when
 * absent).
 */
struct rollout_alert {
	uint32_t size;
	char id[33];                  /* stable id (hex); re-deliveries carry the same id */
	const char *key;              /* dedup key, e.g. "large_movement:<ss58>:<block>" */
	const char *type;             /* "large_movement", "rollout.rollback", "test", ... */
	enum rollout_severity severity;
	int rollout;                  /* 1 = rollout notification, 0 = whale alert */
	const char *title;
	const char *message;
	int64_t time_ms;
	const char *account;          /* SS58 or "" */
	const char *label;            /* display / exchange tag or "" */
	int amount_negative;          /* 1 when amount is an outflow */
	rollout_u128 amount_planck;   /* |delta| */
	const char *amount_tokens;    /* exact decimal string, e.g. "-12345.6789" */
	const char *symbol;           /* "DOT" */
	uint64_t block_from, block_to;
	const char *system;           /* "baseline", "candidate" or "rollout" */
	const char *details_json;     /* a JSON object as text, "{}" when none */
};

/* ---- the host API: runner -> plugin ---------------------------------------- */

/* Opaque node of the plugin's YAML subtree (the `with:` block). */
struct rollout_cfg;

enum rollout_cfg_kind {
	ROLLOUT_CFG_NONE = 0,
	ROLLOUT_CFG_SCALAR = 1,
	ROLLOUT_CFG_SEQ = 2,
	ROLLOUT_CFG_MAP = 3,
};

struct rollout_host {
	uint32_t size;                /* sizeof(struct rollout_host) as the host built it */
	uint32_t abi;                 /* ROLLOUT_PLUGIN_ABI of the host */
	void *ctx;                    /* host-private; pass back to every call */

	/* Identity and environment (owned by the host, valid until destroy()). */
	const char *instance;         /* role in the plan: "baseline", "candidate", "alerting" */
	const char *data_dir;         /* the daemon's data directory */
	const char *chain;            /* preset name, e.g. "polkadot-assethub" */
	uint16_t ss58_prefix;
	uint8_t decimals;
	const char *symbol;
	const char *default_rpc;      /* preset's default WebSocket endpoint */
	const char *default_subscan;  /* preset's default Subscan base URL */
	const struct rollout_cfg *config; /* the `with:` subtree, may be NULL */

	/* Thread-safe.  Copies the event.  0, or -EAGAIN when the bus is full
	 * (the drop is counted; balance changes are never dropped: they wait). */
	int (*emit)(void *ctx, const struct rollout_event *ev);
	/* Thread-safe.  The line is also an EV_LOG event for triggers. */
	void (*log)(void *ctx, enum rollout_log_level lvl, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* Thread-safe.  Records one sample of "<instance>.<name>" (e.g.
	 * candidate.requests) into the metrics store. */
	void (*metric)(void *ctx, const char *name, double value);
	/* Thread-safe.  Wall-clock ms since the epoch (virtual under --simulate). */
	int64_t (*now_ms)(void *ctx);

	/*
	 * Config accessors over the plugin's own subtree.  NODE may be NULL
	 * (then they act on `config`).  Typed getters return 0 on success,
	 * -ENOENT when the key is absent (OUT then holds DEFLT), -EINVAL when
	 * the value has the wrong kind or is out of range; in that case the host
	 * has already logged "FILE:LINE:COL: <instance>: key: expected ...".
	 */
	enum rollout_cfg_kind (*cfg_kind)(void *ctx, const struct rollout_cfg *node);
	const struct rollout_cfg *(*cfg_get)(void *ctx, const struct rollout_cfg *node, const char *key);
	size_t (*cfg_len)(void *ctx, const struct rollout_cfg *node);          /* seq or map size */
	const struct rollout_cfg *(*cfg_at)(void *ctx, const struct rollout_cfg *node, size_t i);
	const char *(*cfg_key_at)(void *ctx, const struct rollout_cfg *node, size_t i); /* map only */
	const char *(*cfg_scalar)(void *ctx, const struct rollout_cfg *node); /* NULL if not scalar */
	int (*cfg_string)(void *ctx, const struct rollout_cfg *node, const char *key,
	    const char *deflt, const char **out);
	int (*cfg_int)(void *ctx, const struct rollout_cfg *node, const char *key,
	    long long min, long long max, long long deflt, long long *out);
	int (*cfg_bool)(void *ctx, const struct rollout_cfg *node, const char *key,
	    int deflt, int *out);
	int (*cfg_duration_ms)(void *ctx, const struct rollout_cfg *node, const char *key,
	    int64_t deflt, int64_t *out);
	/* Log "FILE:LINE:COL: <instance>: MSG" for NODE (the position of a bad value). */
	void (*cfg_error)(void *ctx, const struct rollout_cfg *node, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
};

/* ---- the plugin descriptor -------------------------------------------------- */

struct rollout_plugin {
	uint32_t magic;               /* ROLLOUT_PLUGIN_MAGIC */
	uint32_t abi;                 /* ROLLOUT_PLUGIN_ABI the plugin was built for */
	uint32_t size;                /* sizeof(struct rollout_plugin) */
	const char *name;             /* must equal the file's base name: "rpc_watcher" */
	const char *version;
	const char *description;

	/*
	 * Parse the config (through host->cfg_*), allocate state, but start no
	 * thread and open no connection.  HOST stays valid until destroy().
	 * Returns 0 and sets *self, or a negative errno after logging why.
	 */
	int (*init)(const struct rollout_host *host, void **self);
	/* Start threads / connections.  0 or -errno. */
	int (*start)(void *self);
	/* Stop threads; after it returns the plugin calls no host function. */
	void (*stop)(void *self);
	/* Free everything. */
	void (*destroy)(void *self);
	/*
	 * Run a named command ("chaos.disconnect", "watch.extra", "stats",
	 * "transfers", ...).  ARG may be NULL.  Writes a NUL-terminated reply
	 * (JSON object text when it has data) of at most REPLYLEN bytes.
	 * Returns 0, -ENOTSUP for an unknown command, or -errno.  May be NULL.
	 */
	int (*command)(void *self, const char *cmd, const char *arg, char *reply, size_t replylen);
	/*
	 * Sinks only (else NULL): accept ALERT for delivery.  Returns 0 once the
	 * alert is durably queued (outbox fsynced) or, when the disk refuses the
	 * outbox, held in memory for delivery (the sink logs it and writes it
	 * once the disk takes it), or -errno when it could not be accepted.
	 */
	int (*on_alert)(void *self, const struct rollout_alert *alert);
	/*
	 * Optional: events from other systems that this plugin subscribes to
	 * (the rpc_watcher takes its watchlist from the baseline's snapshots).
	 * Called on the runner thread; copy what you keep.  May be NULL.
	 */
	void (*on_event)(void *self, const char *from_instance, const struct rollout_event *ev);
};

typedef const struct rollout_plugin *(*rollout_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* ROLLOUT_PLUGIN_H */
