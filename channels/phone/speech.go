package phone

import "fmt"

// What callers hear, in the languages a hotline number speaks. Connectors
// that speak (Twilio's <Say>) read these; a PBX script gets them in the
// route's JSON.
var speech = map[string]map[string]string{
	"en": {
		"car_ready":      "Good news: your car %s is ready for collection. To speak to someone, choose from the menu.",
		"car_ready_bare": "Good news: your car is ready for collection. To speak to someone, choose from the menu.",
		"invalid_choice": "Sorry, that is not one of the choices.",
		"closed":         "We are closed at the moment.",
		"callback":       "We will call you back when we open.",
	},
	"zh-CN": {
		"car_ready":      "您好，您的车辆%s已经可以取车了。如需人工服务，请按菜单选择。",
		"car_ready_bare": "您好，您的车辆已经可以取车了。如需人工服务，请按菜单选择。",
		"invalid_choice": "对不起，您的选择无效。",
		"closed":         "现在是非营业时间。",
		"callback":       "我们将在营业时间给您回电。",
	},
}

var departments = map[string]map[string]string{
	"en":    {"enquiries": "enquiries", "sales": "sales", "service": "service and repairs", "parts": "parts"},
	"zh-CN": {"enquiries": "咨询", "sales": "销售", "service": "维修保养", "parts": "配件"},
}

func lang(l string) string {
	if _, ok := speech[l]; ok {
		return l
	}
	return "zh-CN"
}

// say returns the text key in language l, with arg where the text takes one.
func say(l, key, arg string) string {
	l = lang(l)
	if key == "car_ready" && arg == "" {
		key = "car_ready_bare"
	}
	if key == "car_ready" {
		return fmt.Sprintf(speech[l][key], arg)
	}
	return speech[l][key]
}

// departmentLabel is how a department is spoken; unknown ones as given.
func departmentLabel(l, dept string) string {
	if s, ok := departments[lang(l)][dept]; ok {
		return s
	}
	return dept
}
