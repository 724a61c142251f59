package crm

import "testing"

func TestNameKeys(t *testing.T) {
	// Synthetic names, chosen to cover each branch.
	tests := []struct {
		name, pinyin, initials string
	}{
		{"王伟", "wangwei", "ww"},
		{"王伟 Wang Wei", "wangwei", "ww"},
		{"王伟 David", "wangwei", "ww"},
		{"欧阳娜娜", "ouyangnana", "oynn"},
		{"李", "li", "l"},
		{"吕芳", "lvfang", "lf"},
		{"John Smith", "johnsmith", "js"},
		{"  JOHN   o'Brien ", "johnobrien", "job"},
		{"Ｗａｎｇ Ｗｅｉ", "wangwei", "ww"}, // full-width Latin
		{"", "", ""},
		{"4S店", "dian", "d"},
		// Polyphonic surnames take their surname reading.
		{"单田芳", "shantianfang", "stf"},
		{"曾国藩", "zengguofan", "zgf"},
		{"解缙", "xiejin", "xj"},
		{"仇英", "qiuying", "qy"},
		{"尉迟恭", "yuchigong", "ycg"},
		// Only the first character is read as a surname.
		{"王单", "wangdan", "wd"},
	}
	for _, tt := range tests {
		py, in := nameKeys(tt.name)
		if py != tt.pinyin || in != tt.initials {
			t.Errorf("nameKeys(%q) = %q, %q, want %q, %q", tt.name, py, in, tt.pinyin, tt.initials)
		}
	}
}
