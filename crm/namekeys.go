package crm

import (
	"strings"
	"unicode"

	"github.com/mozillazg/go-pinyin"
	"golang.org/x/text/width"
)

// surnameReadings are the readings of polyphonic characters when they are a
// surname: go-pinyin gives a character's most common reading, which for
// 单, 曾, 解, 仇 and friends is the wrong one at the start of a name
// (单 is "dan" but the surname Shan). Compound surnames come first so that
// 尉迟 is read "yuchi", not 尉 alone. Only the start of the Han part of a
// name gets this treatment; a polyphonic character in a given name keeps
// go-pinyin's most common reading (the remaining limitation: 乐 in a given
// name is "le" even when the family says "yue").
var surnameReadings = map[string][]string{
	"尉迟": {"yu", "chi"},
	"万俟": {"mo", "qi"},
	"长孙": {"zhang", "sun"},
	"单于": {"chan", "yu"},
	"单":  {"shan"},
	"曾":  {"zeng"},
	"解":  {"xie"},
	"仇":  {"qiu"},
	"朴":  {"piao"},
	"区":  {"ou"},
	"查":  {"zha"},
	"盖":  {"ge"},
	"乐":  {"yue"},
	"翟":  {"zhai"},
	"秘":  {"bi"},
	"缪":  {"miao"},
	"覃":  {"qin"},
	"召":  {"shao"},
	"种":  {"chong"},
	"重":  {"chong"},
	"任":  {"ren"},
	"长":  {"chang"},
	"员":  {"yun"},
	"宿":  {"su"},
	"折":  {"she"},
	"繁":  {"po"},
	"藏":  {"zang"},
	"适":  {"kuo"},
	"句":  {"gou"},
	"都":  {"du"},
	"燕":  {"yan"},
	"能":  {"nai"},
}

// isHan reports whether r is a Chinese character (what agents type when they
// type a name in characters).
func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

// nameKeys returns the search keys of a customer's name: its full pinyin
// without tones or spaces ("wangwei") and the initial letter of each syllable
// or word ("ww"), both lower-case ASCII. A name with Chinese characters is
// keyed by the characters alone: "王伟 Wang Wei" and "王伟 David" both give
// "wangwei", since a romanisation next to the characters repeats them and an
// English name is found by the Latin-name search anyway. A name without
// Chinese characters is keyed by its letters and digits, lower-cased, with
// full-width forms folded ("John Smith" → "johnsmith", "js"). ü is written
// "v" ("lv"), as pinyin input methods do.
//
// Every path that writes customers.name writes both columns from here, so
// the pinyin and initials indexes never disagree with the name.
func nameKeys(name string) (pinyinKey, initials string) {
	name = width.Fold.String(name)
	var han []rune
	for _, r := range name {
		if isHan(r) {
			han = append(han, r)
		}
	}
	if len(han) > 0 {
		return hanKeys(han)
	}
	var py, in strings.Builder
	inWord := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			py.WriteRune(r)
			if !inWord {
				in.WriteRune(r)
			}
			inWord = true
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			// Accented Latin, Cyrillic…: kept in the key (prefix search still
			// works), but they are not pinyin, so no transliteration.
			py.WriteRune(r)
			if !inWord {
				in.WriteRune(r)
			}
			inWord = true
			continue
		}
		inWord = false
	}
	return py.String(), in.String()
}

// hanKeys reads the Han characters of a name: the surname with its surname
// reading, the rest with go-pinyin's most common reading.
func hanKeys(han []rune) (string, string) {
	var syllables []string
	rest := han
	for _, n := range []int{2, 1} {
		if len(rest) >= n {
			if r, ok := surnameReadings[string(rest[:n])]; ok {
				syllables = append(syllables, r...)
				rest = rest[n:]
				break
			}
		}
	}
	args := pinyin.NewArgs() // Normal style: no tones; ü as "v"
	for _, r := range rest {
		p := pinyin.SinglePinyin(r, args)
		if len(p) > 0 && p[0] != "" {
			syllables = append(syllables, p[0])
		}
	}
	var py, in strings.Builder
	for _, s := range syllables {
		py.WriteString(s)
		in.WriteByte(s[0])
	}
	return py.String(), in.String()
}
