#!/usr/bin/env python3
"""make_strings.py — write strings.jsonl, the test strings for the GPT-2 tokenizer oracle.

One JSON string per line. Hand-written categories (contractions, whitespace, digits,
code, URLs, accents NFC/NFD, scripts, emoji, zero-width characters, Unicode spaces,
punctuation, the literal <|endoftext|>), paragraphs of tinyshakespeare, and
deterministic pseudo-random strings. Every code point used is assigned in
Unicode 15.0 (utf8proc 2.8's tables) so that the JS oracle (Node's newer ICU)
and the C tokenizer agree on categories.

Usage: /usr/bin/python3 make_strings.py [SHAKESPEARE_TXT] > strings.jsonl
"""
import json
import random
import sys
import unicodedata

S = []
add = S.append

# --- plain English -----------------------------------------------------------
for t in [
    "In the future, AI will", "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "temperature", " temperature", "Temperature scaling calibrates a model.",
    "A language model assigns probabilities to sequences of tokens.",
    "Once upon a time, there was a little girl.", "What is the capital of France?",
    "The answer is 42.", "GPT-2 uses byte-level BPE.", "hello", "Hello", "HELLO", "hElLo",
    "a", "I", " ", "x y z", "The end.", "Mr. Smith went to Washington.", "e.g. i.e. etc.",
    "U.S.A.", "Dr. Jekyll & Mr. Hyde", "The cat sat on the mat; the dog did not.",
]:
    add(t)

# --- contractions (the regex's first alternatives are ASCII and case-sensitive)
for t in [
    "I'm", "you're", "they've", "we'll", "he'd", "it's", "can't", "don't", "won't", "shouldn't've",
    "IT'S", "I'M", "YOU'RE", "THEY'VE", "WE'LL", "HE'D", "Don'T", "It'S", "We'Ll", "they'Re",
    "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", "''", "'''s", "' s", "'x",
    "rock'n'roll", "O'Neil's", "'tis", "'twas", "ma'am", "y'all'd've", "isn't'", "'ll'll",
    "'re're", "it\u2019s", "don\u2019t", "the dog's bone", "the dogs' bones", "James's",
    "' 's", " 's", "x's's", "it's 'quoted'", "'Hello'", "\"'s\"", "l'homme", "dell'arte",
    "'sup", "'90s", "rock 'n' roll", "'d've'm", "you'D", "'LL",
]:
    add(t)

# --- whitespace runs, tabs, newlines, CRLF, Unicode spaces --------------------
for t in [
    "  ", "   ", "    ", "a  b", "a   b", "a    b", "  a", "   a", "a  ", "a   ", "\t", "\ta", "a\tb",
    "a\t\tb", "\t\t\tx", "\n", "\n\n", "\n\n\n", "a\nb", "a\n\nb", "a\n\n\nb", "a\r\nb",
    "line1\r\nline2\r\n", "\r", "\r\n\r\n", " \n ", "\n \n", "   \n\tx", "x \n", "x\n ",
    "end of line   \n", "  leading and trailing  ", "\u00a0", "a\u00a0b", "a\u00a0\u00a0b",
    " \u00a0x", "\u00a0 x", "\u3000", "\u3000x", "a\u3000\u3000b", "a\u2009b", "a\u2002b",
    "a\u200ab", "a\u202fb", "a\u205fb", "a\u1680b", "\u2028", "a\u2028b", "\u2029", "a\u2029b",
    "\ufeff", "\ufeffHello", "a\ufeff b", "\u0085", "a\u0085b", "a \u0085b", "\u000b", "a\u000bb",
    "\u000c", "a\u000cb", "\u001c\u001d\u001e\u001f", "a\u001fb", "a \u001f b", "a\u200bb",
    "a \u200b b", "a\u180eb", "\t \t x", " \t\n\r\u000b\u000c", "x  \u00a0  y", "  \u3000 x",
    "word \n\n word", "a \t b", "one\ttwo\tthree\n1\t2\t3\n", "    indented", "\t\tindented",
    "a" + " " * 20 + "b", " " * 50, "\n" * 10, "x" + "\n" * 5 + " y",
    # where JavaScript's \s (the oracle) and Python regex's \s differ: U+FEFF, U+0085
    " \ufeffx", " \ufeff", "x \u0085", " \u0085 ", " \u001cx", "\u001c \u001c", "a \u180e b",
]:
    add(t)

# --- digits, numbers, \p{N} beyond ASCII -------------------------------------
for t in [
    "0", "7", "123", "1234567890", "3.14159265358979", "1,000,000", "2024-01-01", "12:30:45",
    "$100", "100%", "1e10", "-42", "+1", "0x1F", "0b1010", "123abc", "abc123", "a1b2c3",
    "v1.2.3", "1st 2nd 3rd 4th", " 42", "  42", "x 2", "the year 1999", "phone: +1 (555) 123-4567",
    "31415926535897932384626433832795028841971693993751058209749445923078164062862089986280348253421170679",
    "9" * 40, "1 2 3 4 5 6 7 8 9 10", "1.0e-5", "0.000001", "1/2", "3/4",
    "\u00b2", "x\u00b2+y\u00b3", "\u00bd", "\u00bc\u00be", "\u2167", "\u216b", "\u217b", "Chapter \u2173",
    "\u0661\u0662\u0663", "\u0967\u0968\u0969", "\u2460\u2461\u2462", "\U0001d7d9\U0001d7da",
    "\uff11\uff12\uff13", "\u4e00\u4e8c\u4e09", "\u3007", "\u2070\u00b9\u2074", "H\u2082O", "10\u00b3",
    "\u0e51\u0e52\u0e53", "\u1369\u136a", "\U00010107", "5\u00a0000", "1\u2009000",
]:
    add(t)

# --- code ----------------------------------------------------------------------
for t in [
    "def f(x):\n    return x * 2\n",
    "for i in range(10):\n\tprint(i)\n",
    "int main(void) {\n    printf(\"hello\\n\");\n    return 0;\n}\n",
    "#include <stdio.h>\n",
    "if (a && b || !c) { x += 1; }",
    "const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+/gu;",
    "{\"key\": \"value\", \"n\": [1, 2, 3], \"ok\": true}",
    "<html><head><title>Test</title></head><body><p class=\"x\">Hi</p></body></html>",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name;",
    "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "git commit -m 'fix: off-by-one in tokenizer'",
    "x = [i**2 for i in range(100) if i % 3 == 0]",
    "std::vector<std::string> v{\"a\", \"b\"};",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n",
    "// comment\n/* block\n * comment */\n",
    "a=1;b=2;c=a+b;",
    "x->y->z", "a::b::c", "i++; --j;", "foo_bar_baz", "FooBarBaz", "fooBar", "__dunder__",
    "snake_case_variable_name_1", "CONSTANT_VALUE", "kebab-case-name", "path/to/file.txt",
    "C:\\Users\\name\\Documents", "~/.bashrc", "#!/usr/bin/env python3\n",
    "```python\nprint('hi')\n```", "# Heading\n\n* item 1\n* item 2\n", "| a | b |\n|---|---|\n",
    "\\begin{equation} E = mc^2 \\end{equation}", "$\\frac{1}{2}$", "@decorator\ndef g(): pass",
    "lambda x: x if x > 0 else -x", "0xDEADBEEF", "NaN Infinity -Infinity",
]:
    add(t)

# --- URLs and emails -------------------------------------------------------------
for t in [
    "https://www.example.com", "http://example.com/path?query=1&b=2#frag",
    "https://en.wikipedia.org/wiki/Temperature_(disambiguation)", "ftp://files.example.org/pub/",
    "www.github.com/openai/gpt-2", "user@example.com", "first.last+tag@sub.domain.co.uk",
    "Contact us at support@example.com or visit https://example.com/help.",
    "mailto:someone@example.com", "https://example.com/caf\u00e9?q=\u00fcber",
    "http://[::1]:8080/", "http://127.0.0.1:5000/api/v1/items?id=42", "s3://bucket/key/with spaces",
    "https://t.co/AbCdEf123", "<https://example.com>",
]:
    add(t)

# --- accents, NFC and NFD, combining marks ---------------------------------------
nfc_words = ["caf\u00e9", "na\u00efve", "\u00c5ngstr\u00f6m", "r\u00e9sum\u00e9", "Zo\u00eb",
             "Pok\u00e9mon", "ma\u00f1ana", "Ti\u1ebfng Vi\u1ec7t", "Stra\u00dfe", "\u1e9e",
             "\u00e0 la carte", "cr\u00e8me br\u00fbl\u00e9e", "S\u00e3o Paulo", "\u0130stanbul \u0131",
             "\u0141\u00f3d\u017a", "\u010ce\u0161tina", "\u00fcber", "\u00c9cole", "gar\u00e7on",
             "fa\u00e7ade", "Dvo\u0159\u00e1k", "K\u00f8benhavn", "Reykjav\u00edk", "\u00c6sir"]
for w in nfc_words:
    add(w)
    d = unicodedata.normalize("NFD", w)
    if d != w:
        add(d)
for t in [
    "e\u0301", " e\u0301", "\u0301", " \u0301", "a\u0301\u0302\u0303\u0304", "Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u0328\u0317\u0355\u031f\u033a\u032eo",
    "x\u20dd", "1\u20e3", "\u0915\u094d\u0937", "n\u0303o", "o\u0308\u0301", "\u0363\u0364",
]:
    add(t)

# --- other scripts -------------------------------------------------------------------
for t in [
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",  # Greek
    "\u03b1\u03b2\u03b3 \u0394\u0395\u0396 \u1f00\u1f10\u1f70",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",  # Russian
    "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435 \u0442\u043e\u0432\u0430\u0440\u0438\u0449\u0438",
    "\u0423\u043a\u0440\u0430\u0457\u043d\u0430 \u0491\u0454\u0456\u0457",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",  # Arabic
    "\u0628\u0650\u0633\u0652\u0645\u0650 \u0671\u0644\u0644\u0651\u064e\u0647\u0650",
    "\u0634\u0643\u0631\u0627\u064b \u061f \u060c",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  # Hebrew
    "\u05d1\u05bc\u05b0\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u05d9\u05ea",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",  # Hindi
    "\u0939\u093f\u0928\u094d\u0926\u0940",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",  # Thai
    "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",  # Korean
    "\u1100\u1161\u11a8",  # conjoining jamo
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",  # Japanese
    "\u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a \u6f22\u5b57",
    "\u6771\u4eac\u90fd\u6e0b\u8c37\u533a", "\uff76\uff80\uff76\uff85",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8\u3002",
    "\u4e2d\u6587 English \u6df7\u5408 123", "\u5b66\u4e60\u673a\u5668\u5b66\u4e60",
    "\U00020000\U0002a6d6", "\u0532\u0561\u0580\u0587", "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",
    "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd", "\u09ac\u09be\u0982\u09b2\u09be", "\u1230\u120b\u121d",
    "\u1780\u1798\u17d2\u1796\u17bb\u1787\u17b6", "\u0f56\u0f7c\u0f51\u0f0b", "\u1000\u1019\u1039\u1018\u102c",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd", "\U00010330\U00010331\U00010332", "\u16a0\u16a2\u16a6",
    "\u13a0\u13a1\u13a2", "\u1400\u1401\u1402", "\ua000\ua001", "\u0710\u0712\u0713", "\u0780\u0781\u07a6",
]:
    add(t)

# --- emoji ---------------------------------------------------------------------------
for t in [
    "\U0001f389", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5", "1\ufe0f\u20e3",
    "\u2764\ufe0f", "\u2603", "I love it \U0001f60d\U0001f60d", " \U0001f389", "\U0001f389\U0001f389\U0001f389",
    "\U0001f469\U0001f3ff\u200d\U0001f4bb", "Good morning \u2600\ufe0f!", "\U0001f600 \U0001f601 \U0001f602",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1", "\U0001f44b\U0001f3fb\U0001f44b\U0001f3fc\U0001f44b\U0001f3fe",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "#\ufe0f\u20e3",
    "\u263a\ufe0e", "\u00a9\u00ae\u2122", "ok\U0001f44c", "\U0001f600abc", "abc\U0001f600",
    "\U0001f914?", "\U0001f4af%",
]:
    add(t)

# --- zero-width and format characters ---------------------------------------------------
for t in [
    "a\u200db", "a\u200cb", "\u200d", "\u200c", "a\u2060b", "soft\u00adhyphen", "\u200eleft\u200f",
    "x\ufe0fy", "\u202eevil\u202c", "a\u034fb", "a\u061cb",
]:
    add(t)

# --- punctuation and symbols -----------------------------------------------------------
for t in [
    "!!!", "...", "?!", " ...", "\u2014", "a\u2014b", "\u2013", "\u00ab\u00bb", "\u201cquoted\u201d",
    "(parenthetical)", "[brackets]", "{braces}", "@#$%^&*", "___", "----", "====", "~~~~", "```",
    ",,,,", ", , ,", ",,,", "a,b,c,d", "1,2,3", ",\"", "\",\"", ", ,", "',','", "[,]",
    ",'s", ", 's", '",""', '"],""', "],[", "'],['", '",",","', '["a","b"]', '{"a":1},"b"',
    "[[1,2],[3,4]]", "'a','b'", "',''", '"a",",","b"', ' ,"', '.,"', '.",""', "\u2026", "\u00bf\u00a1Hola!?", "\u3002\u3001\u300c\u300d", "\uff01\uff1f",
    "\u2211\u222b\u221a\u221e\u2248\u2260", "\u20ac\u00a3\u00a5\u20b9\u20bf", "\u2500\u2502\u250c\u2510",
    "\u2800\u2801\u2803", "\U0001d11e", "\U0001d400\U0001d401\U0001d402", "\uff21\uff22\uff23",
    "\ufb01", "\u01c5", "\u02b0", "\u00b7", "\u2022 bullet", "\u00a7 1", "\u00b6", "\u2020\u2021",
    "<|endoftext|>", "a<|endoftext|>b", " <|endoftext|>", "<|endoftext|><|endoftext|>", "<|endoftext",
    "<|endoftext|", "<|ENDOFTEXT|>", "Hello<|endoftext|> world", "<|endoftext|>\n",
    "\x01\x02\x03", "\x7f", "\x00", "a\x00b", " \x00 ", "\x1b[31mred\x1b[0m", "\x08\x07",
    "",
]:
    add(t)

# --- long words (exercise the heap path for pieces longer than 24 bytes) ----------------------------
for t in [
    "a" * 100, "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtsgesellschaftskapit\u00e4n", "ab" * 200, "x" * 1000, " " + "the" * 50,
    "1" * 300, "!" * 200, "\u00e9" * 100, "\u4e00" * 60, "\U0001f600" * 40, "\u0301" * 50,
    "aaaabbbbaaaabbbb" * 10, "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
]:
    add(t)

# --- Shakespeare --------------------------------------------------------------------------------
if len(sys.argv) > 1:
    text = open(sys.argv[1], encoding="utf-8").read()
    paras = [p for p in text.split("\n\n") if p.strip()]
    rng = random.Random(1234)
    for p in rng.sample(paras, 30):
        add(p)
    for k in range(5):  # long paragraphs, cut anywhere
        start = rng.randrange(0, len(text) - 4000)
        add(text[start:start + rng.randrange(1000, 4000)])

# --- pseudo-random strings ----------------------------------------------------------------------------
rng = random.Random(42)
pool = ([chr(c) for c in range(0x20, 0x7f)] * 3 + list(" \t\n\r") * 10 +
        [chr(c) for c in range(0xa0, 0x180)] + [chr(c) for c in range(0x391, 0x3a2)] +
        [chr(c) for c in range(0x410, 0x450)] + [chr(c) for c in range(0x5d0, 0x5eb)] +
        [chr(c) for c in range(0x621, 0x63b)] + [chr(c) for c in range(0x300, 0x370)] +
        [chr(c) for c in range(0x905, 0x939)] + [chr(c) for c in range(0x3041, 0x3097)] +
        [chr(c) for c in range(0x4e00, 0x4e80)] + [chr(c) for c in range(0xac00, 0xac40)] +
        [chr(c) for c in range(0x2000, 0x200f)] + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
                                                    "\ufeff", "\u0085", "\u00a0", "\u1680"] +
        [chr(c) for c in range(0x1f600, 0x1f650)] + [chr(c) for c in range(0x1d400, 0x1d434)] +
        [chr(c) for c in range(0x2150, 0x2189)] + ["'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"] * 5 +
        [chr(c) for c in range(0x2460, 0x2474)] + [chr(c) for c in range(0x660, 0x66a)])
for k in range(60):
    n = rng.randrange(1, 80)
    add("".join(rng.choice(pool) for _ in range(n)))
ascii_pool = [chr(c) for c in range(0x20, 0x7f)] + list(" \t\n") * 8 + ["'s", "'ll", "'S"] * 3
for k in range(30):
    n = rng.randrange(1, 120)
    add("".join(rng.choice(ascii_pool) for _ in range(n)))

for s in S:
    sys.stdout.write(json.dumps(s, ensure_ascii=True) + "\n")
sys.stderr.write("%d strings\n" % len(S))
