package clip

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// cleanText is simple_tokenizer.py's whitespace_clean(basic_clean(text)).lower()
// with ftfyFix (ftfy.fix_text without its mojibake repair) for ftfy.
func cleanText(text string) string {
	s := ftfyFix(text)                                            // ftfy.fix_text subset
	s = htmlUnescape(htmlUnescape(s))                             // html.unescape twice
	s = strings.TrimFunc(s, pyIsSpace)                            // str.strip()
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ") // \s+ -> " ", strip
	return pyLower(s)                                             // str.lower()
}

// pyIsSpace is Python's str.isspace: Unicode White_Space plus the
// information separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// preTokenize splits cleaned text like CLIP's regex (IGNORECASE)
// <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// where \s is Unicode White_Space. Alternatives are tried in that order at
// each position; positions where none matches (whitespace) are skipped.
func preTokenize(s string) []string {
	var toks []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if n := matchLiteral(rs[i:], sotText, eotText, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"); n > 0 {
			toks = append(toks, string(rs[i:i+n]))
			i += n
			continue
		}
		r := rs[i]
		j := i + 1
		switch {
		case unicode.IsLetter(r):
			for j < len(rs) && unicode.IsLetter(rs[j]) {
				j++
			}
		case unicode.IsNumber(r):
		case unicode.IsSpace(r):
			i++
			continue
		default:
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !unicode.IsLetter(rs[j]) && !unicode.IsNumber(rs[j]) {
				j++
			}
		}
		toks = append(toks, string(rs[i:j]))
		i = j
	}
	return toks
}

// matchLiteral returns the rune length of the first literal that prefixes
// rs under simple case folding (the regex's IGNORECASE), or 0.
func matchLiteral(rs []rune, lits ...string) int {
	for _, lit := range lits {
		n, ok := 0, true
		for _, lr := range lit {
			if n >= len(rs) || !foldEqual(rs[n], lr) {
				ok = false
				break
			}
			n++
		}
		if ok {
			return n
		}
	}
	return 0
}

// foldEqual reports whether a and b are in the same simple case-folding orbit.
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// htmlUnescape is Python's html.unescape: character references matched by
// &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) are replaced;
// numeric ones follow Python's invalid-reference rules, named ones (with or
// without ';', longest legacy prefix) use the HTML5 entity table.
func htmlUnescape(s string) string { return replaceRefs(s, charRef) }

// replaceRefs copies s, replacing each reference that starts at an '&':
// ref returns the length it consumes and its replacement, or 0 when the
// '&' starts no reference (it is then kept).
func replaceRefs(s string, ref func(s string) (n int, rep string)) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var sb strings.Builder
	for {
		k := strings.IndexByte(s, '&')
		if k < 0 {
			sb.WriteString(s)
			return sb.String()
		}
		sb.WriteString(s[:k])
		s = s[k:]
		n, rep := ref(s)
		if n == 0 {
			sb.WriteByte('&')
			s = s[1:]
			continue
		}
		sb.WriteString(rep)
		s = s[n:]
	}
}

// charRef decodes the reference at the start of s (s[0] == '&'), returning
// the bytes consumed (0 if Python's pattern does not match) and the text.
func charRef(s string) (int, string) {
	if len(s) > 1 && s[1] == '#' {
		base, start := 10, 2
		if len(s) > 2 && (s[2] == 'x' || s[2] == 'X') {
			base, start = 16, 3
		}
		end := start
		num := 0
		for end < len(s) && digitValue(s[end], base) >= 0 {
			if num <= 0x10FFFF {
				num = num*base + digitValue(s[end], base)
			}
			end++
		}
		if end == start { // "&#" or "&#x" without digits does not match
			return 0, ""
		}
		if end < len(s) && s[end] == ';' {
			end++
		}
		return end, numericRef(num)
	}
	// Named reference: up to 32 characters outside "\t\n\f <&#;", then ';'?
	end, count := 1, 0
	for end < len(s) && count < 32 {
		r, w := utf8.DecodeRuneInString(s[end:])
		if strings.ContainsRune("\t\n\f <&#;", r) {
			break
		}
		end += w
		count++
	}
	if count == 0 {
		return 0, ""
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	// Names in the entity table are ASCII letters and digits (plus ';'), so
	// Go's resolver (exact name, else the longest legacy name that prefixes
	// the letters and digits) agrees with Python's on this bounded match.
	return end, html.UnescapeString(s[:end])
}

func digitValue(c byte, base int) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case base == 16 && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// numericRef maps a numeric reference like Python's html._replace_charref.
func numericRef(num int) string {
	switch {
	case num == 0:
		return "\uFFFD"
	case num >= 0x80 && num <= 0x9F:
		if r := charmap.Windows1252.DecodeByte(byte(num)); r != utf8.RuneError {
			return string(r)
		}
		return string(rune(num)) // slots Windows-1252 leaves undefined keep the C1 code point
	case (num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF:
		return "\uFFFD"
	case num == 0x0D:
		return "\r"
	case (num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || num == 0x7F,
		num >= 0xFDD0 && num <= 0xFDEF,
		num&0xFFFE == 0xFFFE:
		return "" // Python drops these invalid code points
	}
	return string(rune(num))
}

// pyLower is Python's str.lower(): Unicode full lowercase mapping, which
// differs from unicode.ToLower only for U+0130 (İ -> "i̇") and the
// context-dependent final sigma.
func pyLower(s string) string {
	rs := []rune(s)
	var sb strings.Builder
	sb.Grow(len(s))
	for i, r := range rs {
		switch r {
		case 0x130:
			sb.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(rs, i) {
				sb.WriteRune(0x3C2)
			} else {
				sb.WriteRune(0x3C3)
			}
		default:
			sb.WriteRune(unicode.ToLower(r))
		}
	}
	return sb.String()
}

// finalSigma is Unicode's Final_Sigma condition as CPython implements it:
// a cased letter before (skipping case-ignorables) and none after.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && caseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !cased(rs[j])
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

func caseIgnorable(r rune) bool {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) {
		return true
	}
	// Word_Break MidLetter, MidNumLet and Single_Quote.
	return strings.ContainsRune("'.:\u00B7\u0387\u055F\u05F4\u2018\u2019\u2024\u2027\uFE13\uFE52\uFE55\uFF07\uFF0E\uFF1A", r)
}

// decodeUTF8Replace decodes b like Python's bytes.decode("utf-8",
// errors="replace"): each maximal invalid subpart becomes one U+FFFD.
func decodeUTF8Replace(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r != utf8.RuneError || w > 1 {
			sb.WriteRune(r)
			b = b[w:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[invalidPrefix(b):]
	}
	return sb.String()
}

// invalidPrefix is the length of the maximal subpart of an ill-formed UTF-8
// sequence at the start of b (at least 1).
func invalidPrefix(b []byte) int {
	lo, hi, need := byte(0x80), byte(0xBF), 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		lo, need = 0xA0, 2
	case c == 0xED:
		hi, need = 0x9F, 2
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		lo, need = 0x90, 3
	case c == 0xF4:
		hi, need = 0x8F, 3
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}
