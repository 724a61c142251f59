package crm

import "testing"

// Numbers and addresses below are synthetic, in the formats of the demo
// (CN mobiles and Shanghai landlines) and of public numbering plans.
func TestMaskPhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+8613800138000", "+86 138****8000"}, // CN mobile: 11 digits
		{"+862112345678", "+86 211***5678"},   // Shanghai landline 021-12345678
		{"+861012345678", "+86 101***5678"},   // Beijing landline
		{"+14155552671", "+1 415***2671"},     // US
		{"+447911123456", "+44 791***3456"},   // UK mobile
		{"+85291234567", "+852 91****67"},     // Hong Kong: 8 digits
		{"+8522", "***22"},                    // does not parse: only the last two stay
		{"not a number", "**********er"},
		{"12", "***"},
	} {
		if got := MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskIdentity(t *testing.T) {
	for _, tc := range []struct{ in, want Identity }{
		{Identity{Kind: KindEmail, Value: "wang.wei@example.cn"}, Identity{Kind: KindEmail, Value: "w***@example.cn"}},
		{Identity{Kind: KindEmail, Value: "李@example.cn"}, Identity{Kind: KindEmail, Value: "李***@example.cn"}},
		{Identity{Kind: KindEmail, Value: "broken"}, Identity{Kind: KindEmail, Value: "******"}},
		{Identity{Kind: KindPhone, Value: "+8613800138000"}, Identity{Kind: KindPhone, Value: "+86 138****8000"}},
		{Identity{Kind: KindWeChat, Value: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, Identity{Kind: KindWeChat, Value: "oUp***S6o"}},
		{Identity{Kind: KindChat, Value: "v-1234"}, Identity{Kind: KindChat, Value: "***"}},
		{Identity{Kind: KindExternal, System: "dms", Value: "C-1001"}, Identity{Kind: KindExternal, System: "dms", Value: "C-1001"}},
	} {
		if got := MaskIdentity(tc.in); got != tc.want {
			t.Errorf("MaskIdentity(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
