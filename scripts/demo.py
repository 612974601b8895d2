#!/usr/bin/env python3
"""make demo: a simulated social network on a real roost instance.

1. `roost up` starts an instance (a writer, brokers and readers under a
   supervisor) in a temporary directory, so nothing of the user's is touched,
   and `roost collections` creates the two stores of the simulation roost
   was built for: "posts" (inner product) and "articles" (L2, another
   dimension).
2. At least 32 agent processes (build/bin/roost-demo-agent, demo/agent.c)
   post tweets to "posts" concurrently, in batches of 1 to 10 like the
   simulation's add_tweets calls, each with its own id and the metadata
   the simulation keeps (post index, user, topic, action, original post),
   and after every post read their feed: a similarity search with min_lsn
   set to the post's LSN, which must find the post (read-your-writes).
   Every third post replies to an earlier tweet, which the agent first
   gets by its id; the get must find it. One agent in eight leaves the
   simulation once it has posted: it deletes all its tweets. Meanwhile a
   newsroom adds articles to "articles" in serial batches of 50, as the
   simulation's manager did.
3. Halfway through, two agents' tweets are read (one of an agent that
   will leave), and the writer is killed with SIGKILL; the supervisor
   restarts it and the agents carry on (their retries are idempotent).
4. At the end every acknowledged tweet and article must be found exactly
   once, with its fields, in its own collection, by searching each agent's
   documents through the readers, except the tweets of the agents that
   left: not one of those may be found.
5. Reading as of the halfway read's LSN (`--as-of`) must give back what
   that read found, although the agents posted on, the writer restarted
   and the leaving agent deleted its tweets since. The instance keeps all
   its history (`roost up --retain all`), as a simulation that branches
   from saved points would.
6. Then "posts" is forked at that midpoint (`roost collections fork`): the
   fork, a new collection sharing the posts' segment files, must answer
   now what "posts" answered then.
7. After `roost down` nothing of the instance may be left: no shared
   memory, socket or process.

Tweet vectors come from a toy embedder written for the demo (feature hashing
of words, normalised; see demo/agent.c). Real users bring real embeddings.

Exits non-zero if a tweet was lost or stored twice, a request failed, a
read-your-writes search missed, the writer was not restarted, the halfway
read came back different (read as of its LSN, or from the fork), or
something was left behind.
--inject-loss N hides N stored tweets from the check, to prove it notices.
"""
import argparse
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.path.join(ROOT, os.environ.get("BUILD", "build"), "bin")
MAX_BATCH = 10
MAX_K = 1024
# The simulation's two stores: (collection, dimension, metric).
POSTS = "posts"
MIDPOINT = "posts-midpoint"  # the fork of posts as of the halfway read
ARTICLES = "articles"
ARTICLE_DIM = 96
ARTICLE_BATCH = 50
NEWSROOM = 1000  # the agent id of the articles' author
LEAVERS = 8  # one agent in this many leaves once it has posted


class Instance:
    """Runs the roost command-line tool against one named instance."""

    def __init__(self, name, root):
        self.name, self.root = name, root
        self.data = os.path.join(root, "data")
        run = os.path.join(root, "run")
        os.makedirs(run, mode=0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=run)
        self.run_dir = os.path.join(run, "roost", name)

    def roost(self, *args, timeout=180):
        argv = [os.path.join(BIN, "roost"), args[0], "--name", self.name] + list(args[1:])
        return subprocess.run(argv, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def leftovers(self):
        """What of the instance outlives `roost down`: /dev/shm entries,
        its shared-memory directory, sockets, processes."""
        prefix = "roost.%d.%s." % (os.getuid(), self.name)
        left = ["/dev/shm/" + f for f in os.listdir("/dev/shm") if f.startswith(prefix)]
        if os.path.lexists(os.path.join(self.run_dir, "shm")):
            left.append(os.path.join(self.run_dir, "shm"))
        if os.path.isdir(self.run_dir):
            left += [os.path.join(self.run_dir, f) for f in os.listdir(self.run_dir)
                     if f.endswith((".ipc", ".sock"))]
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if os.path.basename(argv[0]).startswith("roost") and self.name in argv[1:]:
                left.append("process %s: %s" % (pid, " ".join(argv)))
        return left

    def remove_shm(self):
        """After a failed `down`: the instance is temporary."""
        link = os.path.join(self.run_dir, "shm")
        target = os.path.realpath(link)
        if os.path.lexists(link) and target.startswith("/dev/shm/roost.%d.%s." % (
                os.getuid(), self.name)):
            shutil.rmtree(target, ignore_errors=True)

    def status(self):
        out = self.roost("status", "--json", "--interval-ms", "0")
        return json.loads(out.stdout) if out.returncode == 0 else None

    def writer(self):
        """The supervisor's writer entry, or None."""
        st = self.status()
        procs = st["processes"] if st else []
        return next((p for p in procs if p["role"] == "writer"), None)


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Swarm:
    """The agent processes and what they reported."""

    def __init__(self, inst, args):
        self.inst, self.args = inst, args
        self.acked = {}  # id -> (agent, time, kind, text)
        self.collection_of = {}  # agent -> its collection
        self.acked_twice = 0
        self.max_lsn = {}  # agent -> LSN of its last post
        self.posts = 0
        self.posts_after_kill = 0
        self.latencies_ms = []
        self.ryw_misses = 0
        self.errors = []
        self.killed = None  # (pid, time)
        self.writer_back_s = None
        self.replies = 0
        self.reply_misses = 0
        self.left = {}  # agent -> (tweets deleted, LSN of its last delete)
        self.halfway = None  # (lsn, {agent: its tweets}) read before the kill

    def start(self):
        self.procs = []
        for a in range(self.args.agents):
            self.spawn(a, POSTS, self.args.dim, ["--leave"] if a % LEAVERS == LEAVERS - 1
                       else [])
        self.spawn(NEWSROOM, ARTICLES, ARTICLE_DIM,
                   ["--kind", "article", "--batch", str(ARTICLE_BATCH)],
                   posts=self.args.articles // ARTICLE_BATCH)

    def spawn(self, agent, collection, dim, extra, posts=None):
        argv = [os.path.join(BIN, "roost-demo-agent"), "--name", self.inst.name, "--dim",
                str(dim), "--agent", str(agent), "--posts", str(posts or self.args.posts),
                "--seed", str(self.args.seed), "--collection", collection] + extra
        self.collection_of[agent] = (collection, dim)
        self.procs.append(subprocess.Popen(argv, env=self.inst.env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT))

    def line(self, agent, line):
        kind, _, rest = line.partition(" ")
        if kind == "POST":
            lsn, _, _, acked_us = rest.split()
            self.posts += 1
            # The agents' clock is CLOCK_MONOTONIC, which time.monotonic() reads.
            self.posts_after_kill += self.killed is not None and \
                int(acked_us) / 1e6 > self.killed[1]
            self.max_lsn[agent] = max(self.max_lsn.get(agent, 0), int(lsn))
        elif kind == "ACK":
            i, ag, t, k, text = rest.split(" ", 4)
            self.acked_twice += i in self.acked
            self.acked[i] = (int(ag), int(t), k, text)
        elif kind == "SEARCH":
            us, found = rest.split()
            self.latencies_ms.append(int(us) / 1000.0)
            self.ryw_misses += found != "1"
        elif kind == "REPLY":
            self.replies += 1
            self.reply_misses += rest.split()[1] != "1"
        elif kind == "LEFT":
            n, lsn = rest.split()
            self.left[agent] = (int(n), int(lsn))
            self.max_lsn[agent] = max(self.max_lsn.get(agent, 0), int(lsn))
        elif line.strip():
            self.errors.append("agent %d: %s" % (agent, line))

    def kill_writer(self):
        w = self.inst.writer()
        if not w or w["state"] != "running":
            return
        os.kill(w["pid"], signal.SIGKILL)
        self.killed = (w["pid"], time.monotonic())
        print("roost demo: killed the writer (pid %d) with SIGKILL after %d of %d posts"
              % (w["pid"], self.posts, self.args.agents * self.args.posts), flush=True)

    def watch_restart(self):
        w = self.inst.writer()
        if w and w["state"] == "running" and w["pid"] != self.killed[0]:
            self.writer_back_s = time.monotonic() - self.killed[1]
            print("roost demo: the supervisor restarted the writer (pid %d) %.1f s later"
                  % (w["pid"], self.writer_back_s), flush=True)

    def await_restart(self, timeout):
        """Agents may finish before the supervisor's backoff ends."""
        deadline = time.monotonic() + timeout
        while self.killed and self.writer_back_s is None and time.monotonic() < deadline:
            self.watch_restart()
            time.sleep(0.05)

    def run(self, deadline):
        """Reads every agent's lines as they come (raw reads: a buffered
        reader would keep lines that select() no longer reports), and kills
        the writer once half the posts are in."""
        sel = selectors.DefaultSelector()
        pending = {}
        agents = list(self.collection_of)
        for a, p in zip(agents, self.procs):
            sel.register(p.stdout, selectors.EVENT_READ, a)
            pending[a] = b""
        half = self.args.agents * self.args.posts // 2
        open_pipes = len(self.procs)
        while open_pipes and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                *lines, pending[key.data] = (pending[key.data] + data).split(b"\n")
                for line in lines:
                    self.line(key.data, line.decode())
            if self.killed is None and self.posts >= half:
                self.halfway = read_halfway(self.inst, self.args)
                self.kill_writer()
            elif self.killed and self.writer_back_s is None:
                self.watch_restart()
        for p in self.procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.errors.append("agent pid %d did not finish in time" % p.pid)


def agent_documents(inst, collection, dim, agent, lsn):
    """An agent's documents in a collection as the readers return them: a
    k=1024 search of the zero vector filtered to the agent (Flat: exact)
    that includes LSN lsn. A list of (id, fields)."""
    out = inst.roost("search", "--collection", collection, "--vector", json.dumps([0.0] * dim),
                     "--agent", str(agent), "-k", str(MAX_K), "--min-lsn", str(lsn), "--json")
    if out.returncode != 0:
        raise RuntimeError("search of %s for agent %d failed: %s" % (collection, agent,
                                                                     out.stderr))
    return [(h.get("key") or "#%d" % h["id"], (h["agent"], h["time"], h["kind"], h["text"]))
            for h in json.loads(out.stdout)["hits"]]


def halfway_agents(args):
    """Agent 0, and the first that leaves (deleting its tweets) if any."""
    return sorted({0, min(LEAVERS - 1, args.agents - 1)})


def agent_tweets(inst, args, agent, as_of=None, collection=POSTS):
    """(lsn, an agent's tweets as a set of (id, fields)) from one search;
    (None, message) when compaction has since dropped the history of as_of
    (an instance without retention may have merged segments)."""
    extra = ["--as-of", str(as_of)] if as_of else []
    out = inst.roost("search", "--collection", collection, "--vector", json.dumps([0.0] * args.dim),
                     "--agent", str(agent), "-k", str(MAX_K), "--json", *extra)
    if out.returncode != 0 and "keeps history from LSN" in out.stderr:
        return None, out.stderr.strip()
    if out.returncode != 0:
        raise RuntimeError("search of agent %d's tweets failed: %s" % (agent, out.stderr))
    reply = json.loads(out.stdout)
    return reply["lsn"], {(h.get("key") or "#%d" % h["id"],
                           (h["agent"], h["time"], h["kind"], h["text"])) for h in reply["hits"]}


def read_halfway(inst, args):
    """What the readers hold of halfway_agents' tweets now, read at one
    LSN (the first search's), to be read again as of it at the end."""
    lsn, first = agent_tweets(inst, args, halfway_agents(args)[0])
    found = {halfway_agents(args)[0]: first}
    for agent in halfway_agents(args)[1:]:
        found[agent] = agent_tweets(inst, args, agent, as_of=lsn)[1]
    return lsn, found


def halfway_again(inst, args, halfway):
    """Reads halfway_agents' tweets as of the halfway LSN: "" when they are
    what they were, else what differs."""
    lsn, then = halfway
    for agent, docs in sorted(then.items()):
        at, again = agent_tweets(inst, args, agent, as_of=lsn)
        if at is None:
            print("roost demo: not read again: %s" % again, flush=True)
            return ""
        now = agent_tweets(inst, args, agent)[1]
        print("roost demo: as of lsn %d agent %d had %d tweets (%d now), read again: %d"
              % (lsn, agent, len(docs), len(now), len(again)), flush=True)
        if at != lsn or again != docs:
            return "agent %d as of lsn %d: %d tweets then, %d read again (answered as of %d)" % (
                agent, lsn, len(docs), len(again), at)
    return ""


def fork_halfway(inst, args, halfway):
    """Forks posts as of the halfway LSN and reads halfway_agents' tweets
    from the fork now: "" when they are what posts held then, else what
    differs."""
    lsn, then = halfway
    out = inst.roost("collections", "fork", POSTS, MIDPOINT, "--as-of", str(lsn), "--json")
    if out.returncode != 0:
        return "the fork failed: " + out.stderr.strip()
    fork = json.loads(out.stdout)
    print("roost demo: forked %s as of lsn %d into %s, sharing its %d sealed segments"
          % (POSTS, lsn, MIDPOINT, fork["segments"]), flush=True)
    for agent, docs in sorted(then.items()):
        now = agent_tweets(inst, args, agent, collection=MIDPOINT)[1]
        print("roost demo: %s answers agent %d with %d tweets, as %s did at lsn %d: %s"
              % (MIDPOINT, agent, len(now), POSTS, lsn, "yes" if now == docs else "NO"),
              flush=True)
        if now != docs:
            return "%s has %d of agent %d's tweets, %s had %d" % (MIDPOINT, len(now), agent,
                                                               POSTS, len(docs))
    return ""


def stored_documents(inst, swarm):
    """Every agent's documents in its own collection, and how many of them
    turned up in the other one (there must be none)."""
    found, misplaced = [], 0
    last = max(swarm.max_lsn.values(), default=0)
    for agent, lsn in sorted(swarm.max_lsn.items()):
        collection, dim = swarm.collection_of[agent]
        found += agent_documents(inst, collection, dim, agent, lsn)
        other = ARTICLES if collection == POSTS else POSTS
        odim = ARTICLE_DIM if other == ARTICLES else swarm.args.dim
        misplaced += len(agent_documents(inst, other, odim, agent, last))
    return found, misplaced


def check(acked, found, left, inject_loss):
    """Lost: acknowledged, its agent still there, but not found with the
    same fields. Duplicates: an id found twice, or one tweet (agent and
    text) stored under two ids. Resurrected: a tweet of an agent that left
    (and deleted it) found again."""
    found = found[inject_loss:]
    by_id, texts, dups = {}, set(), 0
    for i, fields in found:
        key = (fields[0], fields[3])
        dups += i in by_id or key in texts
        by_id[i] = fields
        texts.add(key)
    lost = [i for i, fields in acked.items() if fields[0] not in left and by_id.get(i) != fields]
    resurrected = [i for i, fields in found if fields[0] in left]
    return lost, dups, resurrected, len(found)


def summary(args, swarm, lost, dups, resurrected, stored, misplaced, elapsed, restarts):
    articles = sum(1 for f in swarm.acked.values() if f[0] == NEWSROOM)
    rows = [
        ("agents", args.agents),
        ("posts", swarm.posts),
        ("tweets acked", len(swarm.acked) - articles),
        ("articles acked", articles),
        ("documents found", stored),
        ("in the wrong collection", misplaced),
        ("lost", len(lost)),
        ("duplicates", dups + swarm.acked_twice),
        ("failed requests", len(swarm.errors)),
        ("read-your-writes misses", swarm.ryw_misses),
        ("replies (a get by id)", swarm.replies),
        ("gets that missed", swarm.reply_misses),
        ("agents that left", len(swarm.left)),
        ("their tweets deleted", sum(n for n, _ in swarm.left.values())),
        ("deleted, found again", len(resurrected)),
        ("ingest (documents/s)", "%.0f" % (len(swarm.acked) / elapsed if elapsed else 0)),
        ("feed searches", len(swarm.latencies_ms)),
        ("search p50 (ms)", "%.1f" % percentile(swarm.latencies_ms, 50)),
        ("search p99 (ms)", "%.1f" % percentile(swarm.latencies_ms, 99)),
        ("writer restarts", restarts),
        ("posts acked after the kill", swarm.posts_after_kill),
        ("writer back after (s)",
         "%.1f" % swarm.writer_back_s if swarm.writer_back_s is not None else "-"),
    ]
    width = max(len(k) for k, _ in rows)
    print("+-%s-+-%s-+" % ("-" * width, "-" * 10))
    for k, v in rows:
        print("| %-*s | %10s |" % (width, k, v))
    print("+-%s-+-%s-+" % ("-" * width, "-" * 10))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=32)
    ap.add_argument("--posts", type=int, default=60, help="posts per agent")
    ap.add_argument("--dim", type=int, default=64, help="of the posts")
    ap.add_argument("--articles", type=int, default=1000,
                    help="articles, added in serial batches of %d" % ARTICLE_BATCH)
    ap.add_argument("--brokers", type=int, default=2)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=int, default=300, help="seconds for the agents")
    ap.add_argument("--inject-loss", type=int, default=0, metavar="N",
                    help="test hook: hide N stored tweets from the check")
    args = ap.parse_args()
    if args.agents < 1 or not 1 <= args.posts <= MAX_K // MAX_BATCH:
        ap.error("need --agents >= 1 and 1 <= --posts <= %d" % (MAX_K // MAX_BATCH))
    if not ARTICLE_BATCH <= args.articles <= MAX_K:
        ap.error("need %d <= --articles <= %d" % (ARTICLE_BATCH, MAX_K))
    return args


def setup(inst, args):
    """The instance and its two collections; False after saying why not."""
    steps = [("up", "--data-dir", inst.data, "--brokers", str(args.brokers), "--readers",
              str(args.readers), "--retain", "all"),
             ("collections", "create", POSTS, "--dim", str(args.dim), "--metric", "ip"),
             ("collections", "create", ARTICLES, "--dim", str(ARTICLE_DIM))]
    for step in steps:
        out = inst.roost(*step)
        if out.returncode != 0:
            print(out.stdout + out.stderr, file=sys.stderr)
            return False
        print("roost demo: " + out.stdout.rstrip().replace("\n", "\nroost demo: "))
    return True


def demo(inst, args):
    if not setup(inst, args):
        return 1
    print("roost demo: %d agents x %d posts of 1..%d tweets to %s (dim %d, inner product), "
          "%d articles in serial batches of %d to %s (dim %d, L2); feature-hashing embedder"
          % (args.agents, args.posts, MAX_BATCH, POSTS, args.dim, args.articles,
             ARTICLE_BATCH, ARTICLES, ARTICLE_DIM), flush=True)
    swarm = Swarm(inst, args)
    t0 = time.monotonic()
    swarm.start()
    swarm.run(t0 + args.time_limit)
    elapsed = time.monotonic() - t0
    swarm.await_restart(60)
    print("roost demo: agents done in %.1f s; checking every acknowledged document" % elapsed,
          flush=True)
    found, misplaced = stored_documents(inst, swarm)
    lost, dups, resurrected, stored = check(swarm.acked, found, swarm.left, args.inject_loss)
    differs = halfway_again(inst, args, swarm.halfway) if swarm.halfway else "not read"
    if not differs:
        differs = fork_halfway(inst, args, swarm.halfway)
    if differs:
        print("roost demo: the halfway read came back different: %s" % differs)
    w = inst.writer()
    restarts = w["restarts"] if w else 0
    summary(args, swarm, lost, dups, resurrected, stored, misplaced, elapsed, restarts)
    for e in swarm.errors[:5]:
        print("roost demo: " + e)
    for i in lost[:5]:
        print("roost demo: lost document %s %r" % (i, swarm.acked[i]))
    leavers = sum(1 for a in range(args.agents) if a % LEAVERS == LEAVERS - 1)
    ok = not lost and not dups and not swarm.acked_twice and not swarm.errors and \
        not swarm.ryw_misses and restarts >= 1 and not misplaced and not resurrected and \
        not swarm.reply_misses and swarm.replies > 0 and len(swarm.left) == leavers and \
        not differs
    print("roost demo: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    args = parse_args()
    root = tempfile.mkdtemp(prefix="roost-demo-")
    # A name of its own: what the demo checks it left behind is its own.
    inst = Instance("demo-%d" % os.getpid(), root)
    rc = 1
    try:
        rc = demo(inst, args)
    finally:
        down = inst.roost("down")
        if down.returncode != 0 and "no supervisor" not in down.stderr:
            print(down.stderr, file=sys.stderr)
        left = inst.leftovers()
        for what in left:
            print("roost demo: left behind: %s" % what, file=sys.stderr)
        if left:
            rc = 1
        else:
            print("roost demo: nothing left behind (shared memory, sockets, processes)")
        inst.remove_shm()
        shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
