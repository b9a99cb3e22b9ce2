"""Embedded, offline generator of Hacker-News-like story titles.

The real training corpus (HN titles on the Hugging Face hub) is not always
reachable: CI machines, air-gapped boxes and fresh laptops often have no
network.  This module is the fallback default dataset so that training, tests
and benchmarks still run anywhere.

Every title is synthetic.  They are assembled from the small word lists and
templates below; none is a real HN title.  The generator only aims to look
statistically similar (Zipf-like word frequencies, short headlines, the usual
"Show HN" / "Ask HN" prefixes, numbers, versions and "[pdf]" suffixes) so a
small language model has something realistic to learn.

Output depends only on ``(n, seed)``: randomness comes solely from
``random.Random(seed).random()``, the one stream Python guarantees to stay
identical across versions and platforms; helpers such as ``choices`` or
``randrange`` carry no such guarantee, so they are not used.  Any change that
alters the output must bump ``EMBEDDED_VERSION``, which is part of the dataset
cache key.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from random import Random
from string import Formatter
from typing import Callable, Sequence

__all__ = ["DEFAULT_COUNT", "EMBEDDED_VERSION", "generate_titles"]

EMBEDDED_VERSION = "1"
DEFAULT_COUNT = 120_000

# --------------------------------------------------------------------------
# Word lists.  Order matters: words are drawn with weight 1/rank, so the
# first entries of each list become the frequent head and the rest the tail.
# --------------------------------------------------------------------------

NOUNS = (  # countable, singular; plurals are derived by _plural()
    "app", "database", "compiler", "browser", "language", "tool", "server",
    "library", "framework", "model", "startup", "API", "editor", "engine",
    "game", "bug", "computer", "phone", "chip", "algorithm", "interpreter",
    "kernel", "terminal", "website", "network", "protocol", "system", "parser",
    "debugger", "search engine", "operating system", "emulator", "cache",
    "queue", "scheduler", "container", "robot", "camera", "keyboard", "laptop",
    "satellite", "rocket", "drone", "microcontroller", "processor", "GPU",
    "spreadsheet", "text editor", "shell", "package manager", "build system",
    "web server", "static site generator", "password manager",
    "note-taking app", "chat app", "email client", "RSS reader", "CLI", "SDK",
    "virtual machine", "type checker", "linter", "garbage collector",
    "allocator", "hash table", "B-tree", "data structure", "neural network",
    "chatbot", "agent", "benchmark", "dashboard", "plugin", "extension",
    "microservice", "pipeline", "workflow", "repository", "dataset", "paper",
    "book", "course", "tutorial", "blog", "newsletter", "podcast", "interview",
    "team", "company", "product", "feature", "platform", "marketplace",
    "service", "bot", "sensor", "battery", "reactor", "telescope",
    "synthesizer", "font", "color scheme", "map", "simulator", "solver",
    "theorem prover", "proof assistant", "query planner", "index",
    "regex engine", "tokenizer", "transpiler", "JIT", "bootloader", "driver",
    "file system", "hypervisor", "sandbox", "firewall", "VPN", "DNS resolver",
    "load balancer", "proxy", "CDN", "key-value store", "message broker",
    "time-series database", "vector database", "graph database",
    "state machine", "ray tracer", "physics engine", "voxel engine",
    "drum machine", "music player", "image viewer", "photo editor",
    "3D printer", "e-reader", "smartwatch", "router", "homelab",
    "mechanical keyboard", "window manager", "code editor", "web framework",
    "game engine", "ORM", "CRDT", "fuzzer", "profiler", "disassembler",
)

TOPICS = (  # abstract or uncountable subjects: "the future of X"
    "AI", "software", "privacy", "security", "programming", "open source",
    "performance", "machine learning", "the web", "cryptography", "remote work",
    "distributed systems", "type systems", "concurrency", "memory safety",
    "climate change", "nuclear power", "energy storage", "quantum computing",
    "functional programming", "productivity", "burnout", "management",
    "hiring", "venture capital", "inflation", "housing", "education", "sleep",
    "encryption", "surveillance", "copyright", "antitrust", "web design",
    "accessibility", "typography", "game design", "garbage collection",
    "static typing", "testing", "observability", "logging", "caching",
    "networking", "search", "self-driving cars", "space exploration",
    "semiconductors", "supply chains", "personal finance", "urban planning",
    "public transit", "email", "spam", "online advertising", "social media",
    "content moderation", "decentralization", "LLMs", "code review",
    "technical debt", "documentation", "version control",
    "continuous integration", "microservices", "serverless", "Unicode",
    "time zones", "floating point", "regular expressions", "SQL", "CSS",
    "Unix", "open data", "right to repair", "net neutrality", "fusion energy",
    "solar power", "batteries", "mental health", "aging", "loneliness",
    "attention", "creativity", "writing", "reading", "mathematics education",
    "interviews", "layoffs", "stock options", "pricing", "SaaS", "bootstrapping",
    "product management", "on-call", "incident response", "data engineering",
    "computer vision", "robotics", "speech recognition", "search engines",
    "the App Store", "app stores", "software patents", "digital sovereignty",
    "the café economy", "retro computing", "demoscene", "pixel art",
)

ADJECTIVES = (  # attributive: "a {adj} {noun}"
    "new", "open-source", "simple", "fast", "small", "better", "free",
    "modern", "minimal", "tiny", "secure", "hidden", "real", "lightweight",
    "self-hosted", "distributed", "functional", "static", "interactive",
    "visual", "private", "local-first", "portable", "embedded", "reactive",
    "concurrent", "strange", "surprising", "unreasonable", "forgotten",
    "underrated", "boring", "weird", "beautiful", "practical", "pragmatic",
    "experimental", "ancient", "modular", "declarative", "type-safe",
    "memory-safe", "decentralized", "offline", "real-time", "zero-copy",
    "lock-free", "incremental", "generative", "autonomous", "open",
    "cheap", "invisible", "unexpected", "quiet", "elegant", "robust",
    "scalable", "reproducible", "deterministic", "minimalist", "retro",
    "vintage", "homemade", "personal", "collaborative", "accessible",
    "ergonomic", "naïve", "unofficial", "full-featured", "cross-platform",
    "headless", "stateless", "immutable", "persistent", "probabilistic",
    "tiny but complete", "hand-written", "battle-tested",
    "single-file", "dependency-free", "browser-based", "terminal-based",
)

VERDICTS = (  # predicative: "X is {verdict}"
    "hard", "broken", "dead", "overrated", "underrated", "back", "not enough",
    "a trap", "inevitable", "misunderstood", "harder than it looks",
    "easier than you think", "still unsolved", "fine", "a feature",
    "a bug", "the new normal", "a mess", "good, actually", "not a moat",
    "all you need", "eating the world", "a scam", "too expensive",
    "getting worse", "getting better", "a distraction", "the future",
    "a public good", "worth it", "not worth it", "quietly dying",
)

VERBS = (  # base|past|gerund, spelled out because English is irregular
    "build|built|building", "make|made|making", "write|wrote|writing",
    "rewrite|rewrote|rewriting", "run|ran|running", "design|designed|designing",
    "scale|scaled|scaling", "ship|shipped|shipping", "fix|fixed|fixing",
    "learn|learned|learning", "use|used|using", "test|tested|testing",
    "debug|debugged|debugging", "deploy|deployed|deploying",
    "replace|replaced|replacing", "speed up|sped up|speeding up",
    "migrate|migrated|migrating", "port|ported|porting",
    "optimize|optimized|optimizing",
    "reverse-engineer|reverse-engineered|reverse-engineering",
    "hack|hacked|hacking", "break|broke|breaking",
    "automate|automated|automating", "teach|taught|teaching",
    "understand|understood|understanding", "profile|profiled|profiling",
    "benchmark|benchmarked|benchmarking", "compile|compiled|compiling",
    "parse|parsed|parsing", "secure|secured|securing", "host|hosted|hosting",
    "monitor|monitored|monitoring", "refactor|refactored|refactoring",
    "simplify|simplified|simplifying", "visualize|visualized|visualizing",
    "train|trained|training", "fine-tune|fine-tuned|fine-tuning",
    "self-host|self-hosted|self-hosting", "open-source|open-sourced|open-sourcing",
    "kill|killed|killing", "launch|launched|launching", "sell|sold|selling",
    "hire|hired|hiring", "measure|measured|measuring", "store|stored|storing",
    "compress|compressed|compressing", "encrypt|encrypted|encrypting",
    "cache|cached|caching", "render|rendered|rendering", "draw|drew|drawing",
    "emulate|emulated|emulating", "simulate|simulated|simulating",
    "track|tracked|tracking", "block|blocked|blocking",
    "archive|archived|archiving", "explain|explained|explaining",
    "generate|generated|generating", "shrink|shrank|shrinking",
    "sandbox|sandboxed|sandboxing", "document|documented|documenting",
    "index|indexed|indexing", "fuzz|fuzzed|fuzzing", "patch|patched|patching",
    "audit|audited|auditing", "replicate|replicated|replicating",
)

LANGUAGES = (
    "Python", "Rust", "JavaScript", "Go", "C", "C++", "TypeScript", "Java",
    "Haskell", "Zig", "Lisp", "Ruby", "Elixir", "Clojure", "OCaml", "Swift",
    "Kotlin", "Scala", "Erlang", "Julia", "Nim", "Lua", "PHP", "Perl",
    "Fortran", "COBOL", "Common Lisp", "Scheme", "Racket", "F#", "C#",
    "Prolog", "Forth", "APL", "Smalltalk", "Ada", "Odin", "Gleam", "Elm",
    "Crystal", "D", "R", "Bash", "SQL", "x86 assembly", "Idris", "Coq",
    "Lean", "Pascal", "BASIC",
)

TECH = (  # tools, platforms, formats
    "Linux", "Kubernetes", "Postgres", "SQLite", "Docker", "React", "Git",
    "Emacs", "Vim", "Firefox", "Chrome", "WebAssembly", "Redis", "Neovim",
    "systemd", "FreeBSD", "macOS", "Windows", "Android", "iOS", "LLVM", "GCC",
    "Node.js", "Deno", "Django", "Rails", "Nginx", "OpenBSD", "Vue", "Svelte",
    "htmx", "Kafka", "MySQL", "DuckDB", "Terraform", "Nix", "NixOS",
    "Raspberry Pi", "Arduino", "ESP32", "RISC-V", "ARM", "CUDA", "PyTorch",
    "Jupyter", "VS Code", "Electron", "Qt", "GTK", "Wayland", "X11", "Plan 9",
    "QEMU", "eBPF", "ZFS", "btrfs", "TLS", "HTTP/3", "QUIC", "IPv6", "DNS",
    "SSH", "WireGuard", "Tor", "Bluetooth", "USB-C", "JSON", "YAML",
    "Markdown", "LaTeX", "Excel", "Flask", "Next.js", "Tailwind", "Elasticsearch",
    "ClickHouse", "TensorFlow", "Bun", "Godot", "Blender", "FFmpeg", "curl",
    "OpenGL", "Vulkan", "Kindle", "Mastodon", "RSS",
)

COMPANIES = (
    "Google", "Apple", "Microsoft", "Amazon", "Meta", "OpenAI", "Tesla",
    "Nvidia", "Intel", "GitHub", "Mozilla", "Cloudflare", "AMD", "Stripe",
    "Netflix", "Uber", "IBM", "Oracle", "Samsung", "Dropbox", "Spotify",
    "Airbnb", "Reddit", "Valve", "Adobe", "Qualcomm", "Boeing", "SpaceX",
    "Shopify", "Slack", "Discord", "Zoom", "Atlassian", "Red Hat", "Canonical",
    "TSMC", "Sony", "Nintendo", "Broadcom", "DigitalOcean", "Vercel", "Heroku",
)

# Fictional product names are composed from two parts, giving ~1,500 names
# without listing them all; both parts are Zipf-ranked like everything else.
PRODUCT_HEADS = (
    "Nova", "Flux", "Atlas", "Echo", "Orbit", "Pixel", "Quill", "Ember",
    "Cobalt", "Nimbus", "Lumen", "Forge", "Drift", "Pulse", "Relay", "Spark",
    "Vertex", "Zephyr", "Harbor", "Beacon", "Canopy", "Cinder", "Comet",
    "Delta", "Falcon", "Fern", "Glimmer", "Granite", "Helix", "Juniper",
    "Kite", "Lark", "Loom", "Maple", "Meridian", "Mosaic", "Nectar", "Otter",
    "Pebble", "Prism", "Quartz", "Raven", "Sable", "Sprout", "Tidal", "Vapor",
    "Willow", "Yarrow", "Zinc", "Ridge", "Basalt", "Cedar", "Marble", "Bramble",
    "Puffin", "Tundra", "Mantis", "Saffron",
)
PRODUCT_TAILS = (
    "", "DB", "JS", "ly", "Hub", "Stack", "Kit", "OS", "AI", "Base", "Lab",
    "Flow", "Desk", "Box", ".dev", ".io", "Cloud", "Sync", "Script", "Grid",
    "Mail", "Docs", "Pay", "Note", "ify", "Bot",
)

ROLES = (  # plural audiences: "for {role}"
    "developers", "engineers", "programmers", "startups", "founders",
    "designers", "researchers", "students", "scientists", "hackers",
    "managers", "data scientists", "sysadmins", "writers", "artists",
    "musicians", "teachers", "doctors", "small businesses", "indie hackers",
    "open-source maintainers", "beginners", "kids", "remote teams",
    "families", "gamers", "mathematicians", "journalists", "lawyers",
)

JOB_OPENINGS = (
    "engineers", "a founding engineer", "a senior backend engineer",
    "a product designer", "Rust engineers", "a staff engineer",
    "full-stack engineers", "an ML engineer", "a head of growth",
    "a developer advocate", "an SRE", "a compiler engineer",
    "frontend engineers", "a data engineer", "a technical writer",
)

FIELDS = (
    "physics", "mathematics", "biology", "chemistry", "economics",
    "neuroscience", "astronomy", "linguistics", "philosophy", "history",
    "psychology", "genetics", "medicine", "statistics", "computer science",
    "geology", "robotics", "ecology", "archaeology", "materials science",
    "game theory", "category theory", "topology", "number theory",
)

ASPECTS = (  # "The {aspect} of X"
    "history", "future", "economics", "state", "hidden cost", "rise and fall",
    "psychology", "politics", "physics", "ethics", "origins", "limits",
    "myth", "end", "return", "art", "mathematics", "unreasonable effectiveness",
    "quiet death", "strange world",
)

THINGS = (  # plural, non-tech: for science and world news
    "bees", "octopuses", "trees", "whales", "crows", "bacteria",
    "black holes", "exoplanets", "asteroids", "volcanoes", "glaciers",
    "coral reefs", "mushrooms", "ants", "birds", "dogs", "cats", "bridges",
    "ships", "trains", "bicycles", "elevators", "clocks", "typewriters",
    "pianos", "lighthouses", "cathedrals", "forests", "rivers", "deserts",
    "islands", "neutrinos", "galaxies", "fungi", "tardigrades", "pigeons",
    "jellyfish", "wolves", "salmon", "moths",
)

BEHAVIORS = (  # completes "Scientists discover {thing} that ..."
    "can count", "use tools", "remember faces", "glow in the dark",
    "live for centuries", "talk to each other", "navigate by starlight",
    "eat plastic", "survive in space", "sleep with one eye open",
    "recognize themselves", "predict earthquakes", "change color",
    "never age", "sing in harmony", "learn from each other",
)

SCIENCE_VERBS = (
    "discover", "find", "observe", "map", "detect", "identify",
    "photograph", "sequence", "revive", "track", "simulate", "decode",
)

COMPANY_ACTIONS = (  # third person, transitive: "{company} acquires X"
    "acquires", "launches", "open-sources", "shuts down", "kills",
    "deprecates", "announces", "sues", "buys", "discontinues", "bans",
    "invests in", "partners with", "drops support for", "delays",
    "forks", "relicenses", "clones", "blocks", "doubles down on",
)

DEAL_ACTIONS = ("acquires", "buys", "sues", "invests in", "bids for")

PLACES = (
    "the US", "the EU", "California", "China", "Japan", "Germany", "France",
    "the UK", "India", "Canada", "Brazil", "New York", "San Francisco",
    "London", "Berlin", "Tokyo", "Paris", "Amsterdam", "Zürich", "São Paulo",
    "Seattle", "Texas", "Australia", "Norway", "Finland", "Estonia",
    "Singapore", "Iceland", "Kenya", "Chile",
)

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)

# Numbers are Zipf-ranked strings too: round numbers dominate real titles.
SMALL_NUMBERS = (
    "10", "5", "3", "7", "2", "4", "6", "12", "20", "8", "15", "100", "9",
    "11", "25", "30", "50", "13", "40", "1000", "14", "16", "17", "18", "21",
    "24", "27", "35", "42", "64", "99", "101", "128", "200", "256", "500",
)
MONEY_AMOUNTS = (
    "5", "10", "2", "20", "3", "1.5", "50", "100", "12", "4", "7", "15", "25",
    "30", "40", "8", "6", "2.5", "1", "200", "250", "500", "75", "60", "120",
    "300", "1.2", "3.5", "45", "18",
)
MONEY_UNITS = ("M", "B", "K")
MULTIPLIERS = (
    "2x", "10x", "3x", "100x", "5x", "4x", "1.5x", "20x", "50x", "1000x",
    "6x", "8x", "30x", "1.3x", "40x",
)
VERSION_MAJORS = ("1", "2", "3", "0", "4", "5", "6", "7", "8", "10", "9",
                  "11", "12", "13", "14", "15", "16", "17", "18", "20")
VERSION_MINORS = tuple(str(i) for i in range(25))

# --------------------------------------------------------------------------
# Templates.  Each slot name maps to a sampler in _make_samplers().
# --------------------------------------------------------------------------

PLAIN_TEMPLATES = (
    "Why {adj} {nouns} are {verdict}",
    "Why {tech} is {verdict} and what to do about it",
    "Why I stopped {verbing} {nouns} in {lang}",
    "Why we {verbed} our {noun} in {lang} after {num} years",
    "How we {verbed} our {noun} with {tech} and {tech}",
    "How we {verbed} {topic} at {product}",
    "How to {verb} a {adj} {noun} in {lang}",
    "How to {verb} {nouns} without {tech}",
    "How {company} {verbs} {nouns} at scale",
    "How {adj} {nouns} actually work",
    "The {aspect} of {topic}, from {tech} to {tech}",
    "The {adj} {aspect} of {nouns}",
    "The {aspect} of {field}, explained for {role}",
    "{product}: a {adj} {noun} for {role}",
    "{product}: a {adj} {noun} written in {lang}",
    "{product}: {verb} {nouns} with {tech} in {num} minutes",
    "{lang} {version} released",
    "{tech} {version} released with {adj} {nouns}",
    "{product} {version} is out with {adj} {nouns}",
    "{tech} {version}: {adj} {nouns}, {adj} {topic}, and more",
    "{num} things I learned {verbing} {topic}",
    "{num} {adj} {nouns} for {role} in {recent}",
    "{num} years of {verbing} {nouns} in {lang}",
    "Lessons learned from {verbing} {num} {nouns} in production",
    "I {verbed} a {noun} in {num} lines of {lang}",
    "I {verbed} my {noun} from {tech} to {tech}",
    "{company} {action} {product}, its {adj} {noun}",
    "{company} {deal} {product} for {money}",
    "{company} {action} {tech}, citing {topic}",
    "{product} raises {money} to {verb} {nouns} for {role}",
    "{product} ({yc}) is hiring {job}",
    "{tech} is {mult} faster than {tech} for {topic}",
    "Making {tech} {mult} faster with {adj} {nouns}",
    "We made our {noun} {mult} faster by rewriting it in {lang}",
    "{adj} {nouns} in {lang} and {tech}",
    "A {adj} introduction to {topic} for {role}",
    "A {adj} guide to {verbing} {nouns} with {tech}",
    "Notes on {verbing} {nouns} in {lang}",
    "The case against {topic} in {recent}",
    "The case for {adj} {nouns} in {topic}",
    "{topic} is {verdict}, and {role} know it",
    "Is {topic} {verdict}? A look at {num} {nouns}",
    "Understanding {topic} through {tech}",
    "What I learned from {verbing} {num} {nouns} in {recent}",
    "{tech} vs. {tech}: which is better for {topic}?",
    "Building a {adj} {noun} with {tech} and {tech}",
    "Writing a {noun} from scratch in {lang}",
    "Don't {verb} your own {noun}",
    "Stop {verbing} {nouns} for {role}",
    "{tech} considered harmful",
    "{verbing} {nouns} considered harmful",
    "{num} {nouns} every programmer should know about",
    "{num} ways to {verb} your {noun} without {tech}",
    "Scientists {sciverb} {things} that {behavior}",
    "Researchers {sciverb} {adj} {things} in {place}",
    "{place} fines {company} {money} over {topic}",
    "{place} moves to regulate {topic} and {topic}",
    "{place} bans {nouns} in public schools",
    "The {things} of {place}",
    "In praise of {adj} {nouns}",
    "Against {topic}, and for {adj} {nouns}",
    "On {verbing} {adj} {nouns} in {lang}",
    "My {adj} {noun} setup for {topic}",
    "The state of {topic} in {recent}",
    "{lang} for {role}: a {adj} introduction",
    "{field} for {role}, with examples in {lang}",
    "{company}'s new {noun} is {verdict}",
    "Inside {company}'s {adj} {noun} for {role}",
    "A {noun} for {nouns}, written in {lang}",
    "{pct} of {role} {verb} {nouns}, survey finds",
    "{tech} now supports {topic} out of the box",
    "{tech} {version} adds support for {tech}",
    "The {adj} {noun} that {verbed} {topic}",
    "{num} years of {product}: what we got right and wrong",
    "{product} is shutting down after {num} years",
    "{product}, the {adj} {noun}, is now open source",
    "Goodbye, {tech}: why we moved to {tech}",
    "The {adj} {noun} is {verdict}",
    "Why {field} is {verdict} for {role}",
    "An {adj} history of {nouns}",
    "Reverse-engineering the {company} {noun}",
    "What {role} get wrong about {topic}",
    "{topic}: {verdict}, but {verdict}",
    "{lang} is {mult} faster than {lang} at {verbing} {nouns}",
    "The {adj} economics of {nouns} in {place}",
    "Why {role} in {place} are {verbing} {nouns}",
    "{company} quietly {verbed} its {noun} for {role}",
    "How {things} {behavior}, and what it means for {field}",
    "A {adj} {noun} that fits in {num} KB",
    "Using {tech} as a {noun} for {role}",
    "{tech} as a {adj} {noun}: a {num}-part series",
    "The {noun} behind {product}: {adj}, {adj}, and {adj}",
    "From {tech} to {tech}: our {num}-month migration",
    "What happens when you {verb} {nouns} with {tech}",
    "You probably don't need {adj} {nouns}",
    "You should {verb} your {noun} in {lang}",
    "{topic} and the {aspect} of {nouns}",
    "When {topic} meets {topic}: notes from {place}",
    "{product} {version}: {verbing} {nouns} is now {mult} faster",
    "My {num}-year journey from {tech} to {tech}",
)

SHOW_TEMPLATES = (
    "Show HN: {product} – {adj} {noun} for {role}",
    "Show HN: {product} – {verb} {nouns} with {tech}",
    "Show HN: {product}, an open-source {noun} for {topic}",
    "Show HN: I built a {adj} {noun} in {lang}",
    "Show HN: A {noun} written in {lang} in {num} lines",
    "Show HN: {product} – a {noun} that {verbs} your {nouns}",
    "Show HN: My weekend project, a {adj} {noun} for {tech}",
    "Show HN: {product} {version} – {adj} {nouns} for {lang}",
    "Show HN: I made a {noun} to {verb} {nouns}",
    "Show HN: {product} – {topic} for {role}",
    "Show HN: A {adj} {noun} in your browser with {tech}",
)

ASK_TEMPLATES = (
    "Ask HN: How do you {verb} your {nouns}?",
    "Ask HN: What {noun} do you use for {topic}?",
    "Ask HN: Is {tech} still worth learning in {recent}?",
    "Ask HN: Who is hiring? ({month} {recent})",
    "Ask HN: Freelancer? Seeking freelancer? ({month} {recent})",
    "Ask HN: How do I get into {field} as one of the {role}?",
    "Ask HN: What are you working on? ({month} {recent})",
    "Ask HN: Best {nouns} for {verbing} {topic}?",
    "Ask HN: Has anyone {verbed} {tech} in production?",
    "Ask HN: Why is {topic} {verdict}?",
    "Ask HN: {lang} or {lang} for a {adj} {noun}?",
    "Ask HN: How did you learn {field}?",
    "Ask HN: What's your {adj} {noun} setup?",
    "Ask HN: Is it worth {verbing} {nouns} in {lang}?",
    "Ask HN: How do {role} {verb} {nouns} at {company}?",
    "Ask HN: What {adj} {nouns} do you {verb} every day?",
)

TELL_TEMPLATES = (
    "Tell HN: {company} deleted my {noun} without warning",
    "Tell HN: {tech} {version} breaks {nouns}",
    "Tell HN: I {verbed} my {noun} after {num} years",
    "Tell HN: {product} is down",
    "Tell HN: {topic} is {verdict}",
)

LAUNCH_TEMPLATES = (
    "Launch HN: {product} ({yc}) – {adj} {noun} for {role}",
    "Launch HN: {product} ({yc}) – {topic} for {role}",
    "Launch HN: {product} ({yc}) – {verb} {nouns} with {tech}",
)

# Cumulative thresholds on one uniform draw; the remainder is plain headlines.
# Widths differ from the target shares because de-duplication rejects more
# of the few-slot templates; these give the commented shares in the output.
_KIND_THRESHOLDS = (
    (0.075, SHOW_TEMPLATES),  # ~8% Show HN
    (0.142, ASK_TEMPLATES),  # ~5% Ask HN
    (0.157, TELL_TEMPLATES),  # ~1.5% Tell HN
    (0.164, LAUNCH_TEMPLATES),  # ~0.7% Launch HN
)
# Resubmitted old articles and media links carry a bracketed suffix on HN.
_SUFFIX_YEAR, _SUFFIX_PDF, _SUFFIX_VIDEO = 0.05, 0.07, 0.08


Sampler = Callable[[Callable[[], float]], str]


def _plural(noun: str) -> str:
    head, _, last = noun.rpartition(" ")
    if last[-1].isupper():  # acronyms: API -> APIs
        plural = last + "s"
    elif last.endswith(("s", "x", "z", "sh", "ch")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def _third_person(verb: str) -> str:
    first, sep, rest = verb.partition(" ")
    return _plural(first) + sep + rest  # English 3sg -s follows the plural rules


def _uniform(items: Sequence[str]) -> Sampler:
    count = len(items)
    return lambda random: items[int(random() * count)]


def _zipf(items: Sequence[str]) -> Sampler:
    """Sampler drawing items[r-1] with probability proportional to 1/r."""
    # Boundaries exclude the final total so bisect can never run off the end,
    # even if random() * total rounds up to total.
    cumulative = list(accumulate(1.0 / rank for rank in range(1, len(items) + 1)))
    total = cumulative.pop()
    return lambda random: items[bisect_right(cumulative, random() * total)]


def _make_samplers() -> dict[str, Sampler]:
    verb_forms = [v.split("|") for v in VERBS]
    noun = _zipf(NOUNS)
    nouns = _zipf([_plural(n) for n in NOUNS])
    head, tail = _zipf(PRODUCT_HEADS), _zipf(PRODUCT_TAILS)
    major, minor = _zipf(VERSION_MAJORS), _zipf(VERSION_MINORS)
    patch = _zipf(VERSION_MINORS[:10])
    amount, unit = _zipf(MONEY_AMOUNTS), _zipf(MONEY_UNITS)
    season = _zipf(("W", "S"))

    def version(random):
        text = f"{major(random)}.{minor(random)}"
        return f"{text}.{patch(random)}" if random() < 0.4 else text

    def yc(random):
        return f"YC {season(random)}{7 + int(random() * 18):02d}"

    return {
        "noun": noun,
        "nouns": nouns,
        "topic": _zipf(TOPICS),
        "adj": _zipf(ADJECTIVES),
        "verdict": _zipf(VERDICTS),
        "verb": _zipf([f[0] for f in verb_forms]),
        "verbed": _zipf([f[1] for f in verb_forms]),
        "verbing": _zipf([f[2] for f in verb_forms]),
        "verbs": _zipf([_third_person(f[0]) for f in verb_forms]),
        "lang": _zipf(LANGUAGES),
        "tech": _zipf(TECH),
        "company": _zipf(COMPANIES),
        "product": lambda random: head(random) + tail(random),
        "role": _zipf(ROLES),
        "job": _zipf(JOB_OPENINGS),
        "field": _zipf(FIELDS),
        "aspect": _zipf(ASPECTS),
        "things": _zipf(THINGS),
        "behavior": _zipf(BEHAVIORS),
        "sciverb": _zipf(SCIENCE_VERBS),
        "action": _zipf(COMPANY_ACTIONS),
        "deal": _zipf(DEAL_ACTIONS),
        "place": _zipf(PLACES),
        "month": _uniform(MONTHS),
        "recent": lambda random: str(2012 + int(random() * 14)),
        "num": _zipf(SMALL_NUMBERS),
        "money": lambda random: f"${amount(random)}{unit(random)}",
        "mult": _zipf(MULTIPLIERS),
        "pct": lambda random: f"{1 + int(random() * 99)}%",
        "version": version,
        "yc": yc,
    }


Compiled = tuple[tuple[tuple[str, Sampler], ...], str]


# Brand names keep their own casing at the start of a title ("htmx", "iOS").
_KEEP_CASE_FIELDS = frozenset({"tech", "lang"})


def _capitalized(sample: Sampler) -> Sampler:
    def capitalized(random):
        word = sample(random)
        return word[0].upper() + word[1:]
    return capitalized


def _compile(template: str, samplers: dict[str, Sampler]) -> Compiled:
    """Split a template into (literal, sampler) pairs plus a trailing literal."""
    pairs, tail = [], ""
    for literal, field, _, _ in Formatter().parse(template):
        if field is None:
            tail = literal
            continue
        sample = samplers[field]
        if not pairs and not literal and field not in _KEEP_CASE_FIELDS:
            sample = _capitalized(sample)  # a title starts with a capital
        pairs.append((literal, sample))
    return tuple(pairs), tail


# "a open-source tool" -> "an open-source tool".  Uppercase "U" is left alone
# because acronyms and names like "USB-C" or "Unicode" take "a".
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIO])")


def _suffix(random: Callable[[], float]) -> str:
    roll = random()
    if roll < _SUFFIX_YEAR:
        # Skewed toward recent decades, like resubmitted classics.
        return f" ({2024 - int(random() ** 2 * 65)})"
    if roll < _SUFFIX_PDF:
        return " [pdf]"
    if roll < _SUFFIX_VIDEO:
        return " [video]"
    return ""


def generate_titles(n: int = DEFAULT_COUNT, seed: int = 0) -> list[str]:
    """Return ``n`` distinct synthetic HN-like titles, deterministic in ``seed``."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    samplers = _make_samplers()
    kinds = [(threshold, [_compile(t, samplers) for t in templates])
             for threshold, templates in _KIND_THRESHOLDS]
    plain = [_compile(t, samplers) for t in PLAIN_TEMPLATES]
    random = Random(seed).random

    titles: list[str] = []
    seen: set[str] = set()
    # Duplicates are rejected, so bound the attempts in case n exceeds what
    # the templates can produce rather than looping forever.
    budget = 20 * n + 1000
    while len(titles) < n:
        budget -= 1
        if budget < 0:
            raise RuntimeError(
                f"only {len(titles)} distinct titles after many attempts, asked for {n}"
            )
        roll = random()
        for threshold, group in kinds:
            if roll < threshold:
                pairs, tail = group[int(random() * len(group))]
                suffix = ""
                break
        else:
            pairs, tail = plain[int(random() * len(plain))]
            suffix = _suffix(random)
        title = "".join([literal + sample(random) for literal, sample in pairs]) + tail
        title = _ARTICLE.sub(r"\1n ", title) + suffix
        if title not in seen:
            seen.add(title)
            titles.append(title)
    return titles
