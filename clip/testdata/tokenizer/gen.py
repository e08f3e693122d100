#!/usr/bin/python3
"""Generate fixture.json for clip/tokenizer_test.go from OpenAI's own tokenizer.

Nothing here is imported by Go; only fixture.json is read by the tests.

How to run (Debian's interpreter, which needs python3-regex and python3-wcwidth):
  1. Get openai/CLIP (commit d05afc43 was used) and copy clip/simple_tokenizer.py
     to a scratch dir, e.g. /tmp/cliptok/simple_tokenizer.py (never into this repo).
  2. Get rspeer/python-ftfy (6.3.1, commit 74dd045 was used) and put its ftfy/
     package in a scratch dir, e.g. /tmp/cliptok/ftfy_src/ftfy.
  3. /usr/bin/python3 clip/testdata/tokenizer/gen.py /tmp/cliptok /tmp/cliptok/ftfy_src \
        ../shared/data/bpe_simple_vocab_16e6.txt.gz

Each case records the ids from the real tokenizer (real ftfy.fix_text) and,
where they differ, "ids_nfc": the ids of the same tokenizer with ftfy.fix_text
replaced by NFC normalisation alone. Those cases are marked "ftfy_differs":
they exercise the Go port's table-driven ftfy subset (entities, quotes,
ligatures, widths, control characters), and the test lists the few that need
ftfy's mojibake repair, which is not ported.
"""
import html
import json
import random
import sys
import unicodedata

tok_dir, ftfy_dir, vocab = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, ftfy_dir)
sys.path.insert(0, tok_dir)
import ftfy  # noqa: E402
import simple_tokenizer as st  # noqa: E402

real = st.SimpleTokenizer(vocab)
real_fix = ftfy.fix_text


def encode(text, fix):
    st.ftfy.fix_text = fix
    try:
        return real.encode(text)
    finally:
        st.ftfy.fix_text = real_fix


def nfc(t):
    return unicodedata.normalize("NFC", t)


rng = random.Random(20240607)

hand = [
    "", " ", "a diagram", "a dog", "a cat", "hello world", "Hello World!", "Hello, world!",
    "a photo of a cat", "a photo of a dog", "don't stop 42 times", "it's a test, isn't it?",
    "123 4567", "  Multiple   spaces\tand\nnewlines ", "café naïve", "&amp;amp; html", "😀 emoji",
    "I'm you're we've they'll he'd she's can't", "I'M YOU'RE WE'VE THEY'LL HE'D",
    "'s 't 're 've 'm 'll 'd", "''s '''t !'s", "rock'n'roll", "o'clock", "'tis", "ma'am",
    "3.14159", "1,000,000", "$100.00", "50%", "2024-06-07", "10:30pm", "#hashtag", "@user",
    "e-mail", "state-of-the-art", "U.S.A.", "e.g., i.e.", "...", "?!?!", "!!!", "(parens)",
    "[brackets] {braces} <angles>", "a/b\\c|d", "~`^_=+", "\"quoted\"", "“curly” ‘quotes’",
    "ﬁne ﬂour ﬀ", "ＦＵＬＬＷＩＤＴＨ １２３", "Ｈｅｌｌｏ", "cafÃ©", "The Mona Lisa doesn√¢‚Ç¨‚Ñ¢t have eyebrows.",
    "e\u0301te\u0301", "A\u030a", "\u212b", "ﬃ", "½ ¼ ¾", "x² y³", "①②③", "Ⅻ", "٣٤٥", "१२३",
    "東京タワー", "日本語のテキスト", "中文字符测试", "한국어 텍스트", "Привет, мир!", "Γειά σου Κόσμε",
    "ΟΔΟΣ ΣΑ Σ.Σ", "ΣΊΣΥΦΟΣ", "İstanbul İIı", "Straße STRASSE", "ǅemal ǈ ǋ", "ﬀ ǆ",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "ሰላም", "Ꭰ Ꭱ",
    "👍🏽 👨‍👩‍👧‍👦 🇺🇸 ❤️ 🎉🎉", "☃ ★ ♥ ♠", "→ ← ↑ ↓ ⇒", "∑∫∂√∞≠≤≥", "©®™", "€£¥₹",
    "&lt;b&gt;bold&lt;/b&gt;", "&quot;hi&quot;", "&#39;single&#39;", "&#x27;hex&#x27;", "&nbsp;space",
    "&amp", "&ampx", "&amp;amp;amp;", "&notit;", "&notin;", "&copy2024", "&#0;", "&#128;", "&#150;",
    "&#x110000;", "&#xD800;", "&#1;x", "&#65", "&#x41", "&#", "&#x;", "&;", "& amp;", "&AMP;", "&Amp;",
    "&fjlig;", "&NewLine;x", "&CounterClockwiseContourIntegral;", "&zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz;",
    "a<b &amp; c>d", "<b>&amp;</b>", "&eacute;t&eacute;", "&Eacute;T&Eacute;", "&#233;",
    "tab\there", "nbsp\u00a0here", "em\u2003space", "ideographic\u3000space", "line\u2028sep",
    "\u0085nel", "\x1cfs\x1d", "\x0bvt\x0cff\r\n", "zero\u200bwidth", "soft\u00adhyphen", "bom\ufeffx",
    "ctrl\x01\x02\x7f", "nul\x00char", "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b",
    "<|STARTOFTEXT|>", "<|startoftext|><|endoftext|>", "x<|endoftext|>y", "<|endoftext", "<|ſtartoftext|>",
    "ſ 'ſ", "K k", "ﬅ", "ǰ", "ΐ", "ẞ", "I\u0307", "Ωmega Ω", "Å ångström",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "tHe QuIcK bRoWn",
    "a photo of a {}.", "a bad photo of a tench.", "itap of a goldfish.", "a origami great white shark.",
    "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "supercalifragilisticexpialidocious", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababab",
    "x" * 300, "1234567890" * 10, "!@#$%^&*()" * 5, "😀" * 20, "日本" * 30,
    " ".join(["word"] * 100),
    "In 1492, Columbus sailed the ocean blue; he didn't know where he'd land — or did he?",
    "Mr. O'Neil's 3rd-floor apt. #4B costs $1,250/mo (incl. utilities).",
    "https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Program Files\\x", "snake_case camelCase",
    "#FF00FF rgba(0,0,0,0.5)", "print('hello')", "for i in range(10): pass", "x = y + z * 2",
    "l33t sp34k", "4k 8K 1080p", "v1.2.3-beta+build.5", "COVID-19", "R2-D2 & C-3PO",
]

letters = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿ",
    "ÀÁÂÃÄÅÆÇÈÉÊËÑÒÓÔÕÖØÙÚÛÜÝ", "αβγδεζηθικλμνξοπρστυφχψω", "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ",
    "абвгдежзийклмнопрстуфхцчшщъыьэюя", "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩ", "的一是不了人我在有他这中大来上个国",
    "あいうえおかきくけこさしすせそたちつてと", "アイウエオカキクケコサシスセソ", "가나다라마바사아자차카타파하",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", "אבגדהוזחטיכלמנסעפצקרשת", "अआइईउऊएऐओऔकखगघ", "şğıİçöüŞĞÇÖÜ",
]
punct = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "–", "«", "»", "¿", "¡", "·", "•", "‘", "’", "“", "”"]
spaces = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2009", " \n "]
emoji = ["😀", "😂", "🥰", "👍", "🔥", "🎉", "❤", "🐶", "🐱", "🌍", "🚀", "🍕", "👍🏿", "🏳️‍🌈"]
words = ["the", "a", "photo", "of", "dog", "cat", "running", "beautiful", "isn't", "we're", "it's", "New",
         "York", "café", "naïve", "résumé", "über", "Zürich", "北京", "東京", "서울", "Москва", "Αθήνα",
         "&amp;", "&lt;3", "&#8217;", "don't", "I'll", "you'd", "they've", "I'm", "hello", "WORLD", "x-ray",
         "9:41", "3.5mm", "24/7", "100%", "$5", "#1", "a.k.a.", "e.g.", "ok", "OK", "Ok", "l'été", "can’t"]
entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&nbsp;", "&copy;", "&eacute;", "&hellip;", "&mdash;",
            "&#8220;", "&#x201D;", "&#169;", "&euro;", "&amp;amp;", "&amp", "&lt", "&frac12;", "&hearts;"]


def rand_word():
    pool = rng.choice(letters)
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))


def rand_piece():
    k = rng.random()
    if k < 0.35:
        return rng.choice(words)
    if k < 0.55:
        return rand_word()
    if k < 0.65:
        return str(rng.randint(0, 10 ** rng.randint(1, 8)))
    if k < 0.75:
        return "".join(rng.choice(punct) for _ in range(rng.randint(1, 3)))
    if k < 0.83:
        return rng.choice(emoji)
    if k < 0.90:
        return rng.choice(entities)
    return "".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x3000, 0xd7ff),
                                   rng.randint(0xe000, 0xfffd), rng.randint(0x10000, 0x1faff)]))
                   for _ in range(rng.randint(1, 4)))


def rand_text():
    n = rng.choice([1, 2, 3, 5, 8, 13])
    out = []
    for i in range(n):
        out.append(rand_piece())
        if rng.random() < 0.8:
            out.append(rng.choice(spaces))
    t = "".join(out)
    if rng.random() < 0.2:
        t = rng.choice(spaces) + t
    return t


texts = list(hand)
seen = set(texts)
while len(texts) < 1100:
    t = rand_text()
    if t not in seen:
        seen.add(t)
        texts.append(t)

cases = []
ndiff = 0
for t in texts:
    ids = encode(t, real_fix)
    ids_nfc = encode(t, nfc)
    c = {"text": t, "ids": ids}
    if ids != ids_nfc:
        c["ftfy_differs"] = True
        c["ids_nfc"] = ids_nfc
        ndiff += 1
    cases.append(c)

# Decode: random id sequences (byte tokens make invalid UTF-8 likely).
decode = []
for i in range(200):
    n = rng.randint(1, 12)
    ids = [rng.choice([rng.randint(0, 511), rng.randint(0, 49407), rng.randint(188, 255)]) for _ in range(n)]
    decode.append({"ids": ids, "text": real.decode(ids)})
for c in cases[:100]:
    decode.append({"ids": c["ids"], "text": real.decode(c["ids"])})

# Python html.unescape on its own.
un_in = ["&#%d;" % n for n in list(range(0, 40)) + list(range(120, 170)) + [0xd800, 0xdfff, 0xfdd0, 0xfffe, 0x1ffff, 0x10ffff, 0x110000, 10 ** 30]]
un_in += ["&#x%x" % n for n in (0x41, 0x80, 0x9d, 0x1f600)]
un_in += ["&" + e for e in ["amp", "amp;", "ampx", "ampé", "amp-x;", "notit;", "notin;", "AMP;", "AMP", "Amp;", "fjlig;", "semi;",
                            "NewLine;", "lt", "LT", "zzz", "z" * 40 + ";", "eacute", "Eacute;", "#", "#x", "#X41;", "", ";", " amp;",
                            "CounterClockwiseContourIntegral;", "CounterClockwiseContourIntegralx;", "copy2024", "hellip", "frac12x"]]
unescape = [{"in": s, "out": html.unescape(s)} for s in un_in]

json.dump({
    "generator": "clip/testdata/tokenizer/gen.py: openai/CLIP simple_tokenizer.py (d05afc43) with ftfy 6.3.1",
    "ftfy_differs_count": ndiff,
    "cases": cases,
    "decode": decode,
    "unescape": unescape,
}, open(__file__.rsplit("/", 1)[0] + "/fixture.json", "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
print("cases", len(cases), "ftfy_differs", ndiff, "decode", len(decode), "unescape", len(unescape))
