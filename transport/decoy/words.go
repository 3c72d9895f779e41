package decoy

// topic is what a generated site writes about.
type topic struct {
	subject string   // "gardening": in the about page
	nouns   []string // things the posts are about
	doings  []string // things the author did, past tense
	tips    []string // advice, as a clause
	names   []string // words for the site's name
}

var topics = []topic{
	{
		subject: "gardening",
		nouns: []string{"tomatoes", "the raised beds", "runner beans", "compost", "the apple tree", "seedlings",
			"leeks", "the greenhouse", "slugs", "rhubarb", "garlic", "the water butt", "strawberries", "mulch"},
		doings: []string{"pruned the tomatoes", "turned the compost heap", "sowed another row of carrots",
			"moved the rhubarb", "netted the brassicas", "lifted the last potatoes", "built a cold frame from old windows",
			"planted garlic before the frost", "cleared the bramble corner", "split the overgrown chives"},
		tips: []string{"water in the morning rather than the evening", "leave the leaves where they fall for a while",
			"do not feed the tomatoes until the first truss sets", "a thick mulch saves more water than any hose",
			"sow a little and often", "let a few plants flower for the bees", "label everything, twice"},
		names: []string{"Garden", "Allotment", "Plot", "Orchard", "Seedbed", "Potting Shed", "Greenhouse"},
	},
	{
		subject: "cycling",
		nouns: []string{"the old steel frame", "gravel roads", "the chain", "brake pads", "panniers", "the headset",
			"tubeless tyres", "the commute", "hill repeats", "a wheel build", "mudguards", "the touring bike"},
		doings: []string{"rode the coast road in a headwind", "rebuilt the rear hub", "swapped the cassette",
			"trued a wheel on the kitchen table", "fitted full mudguards", "rode to the reservoir and back",
			"replaced a frayed gear cable", "took the night train with the bike", "packed for three days out"},
		tips: []string{"check the tyre pressure every week", "carry a spare link", "clean the chain before you oil it",
			"a little wax goes a long way", "ride the first hour slower than you want to", "eat before you are hungry"},
		names: []string{"Spokes", "Freewheel", "Crank", "Cadence", "Bike Shed", "Headwind", "Tailwind"},
	},
	{
		subject: "baking",
		nouns: []string{"sourdough", "the starter", "rye bread", "croissants", "the oven", "shortbread", "focaccia",
			"proofing baskets", "spelt flour", "the dough hook", "brioche", "a scald"},
		doings: []string{"fed the starter twice a day", "baked a rye loaf with caraway", "laminated dough for the first time",
			"tried a longer cold proof", "burnt the first batch of rolls", "made focaccia with rosemary from the garden",
			"weighed everything to the gram", "baked bread for a neighbour's party"},
		tips: []string{"trust the dough, not the clock", "use a little less water than the recipe says at first",
			"let the loaf cool before cutting it", "a warm spot in the kitchen is worth finding", "steam makes the crust"},
		names: []string{"Crumb", "Loaf", "Oven", "Rise", "Flour", "Bakehouse", "Crust"},
	},
	{
		subject: "woodworking",
		nouns: []string{"dovetails", "the workbench", "hand planes", "oak offcuts", "the chisels", "a bookcase",
			"oil finish", "the bandsaw", "mortise and tenon joints", "a cutting board", "winding sticks", "walnut"},
		doings: []string{"flattened the bench top by hand", "cut a set of half-blind dovetails", "sharpened every chisel",
			"glued up a walnut tabletop", "made a shooting board", "restored an old jack plane", "built a shoe rack",
			"finished a box for a friend"},
		tips: []string{"sharpen more often than you think", "mark from one face and one edge",
			"let the glue set overnight", "cut on the waste side of the line", "measure with a rule, fit by eye"},
		names: []string{"Workshop", "Shavings", "Bench", "Joinery", "Sawdust", "Offcuts", "Grain"},
	},
	{
		subject: "walking in the hills",
		nouns: []string{"the ridge path", "maps", "the bothy", "boots", "the weather", "a river crossing",
			"waymarks", "the summit cairn", "a bivvy bag", "the old drovers' road", "heather", "the valley"},
		doings: []string{"walked the ridge from end to end", "spent a night in the bothy", "got lost in the mist",
			"followed the old drovers' road", "crossed the river after the rain", "climbed before dawn",
			"watched the weather turn from the summit", "walked home from the station"},
		tips: []string{"turn back early rather than late", "carry the map even if you know the way",
			"wet feet are better than a swim", "start early", "tell someone where you are going"},
		names: []string{"Ridge", "Fell", "Trail", "Upland", "Cairn", "Moor", "Hillside"},
	},
	{
		subject: "photography",
		nouns: []string{"film", "the old rangefinder", "darkroom chemistry", "street photos", "the light meter",
			"a 35mm lens", "prints", "contact sheets", "the scanner", "long exposures", "a tripod", "fog"},
		doings: []string{"developed a roll at home", "shot a whole roll in one afternoon", "printed a contact sheet",
			"cleaned the fungus from an old lens", "tried stand development", "walked the market with one lens",
			"waited an hour for the light"},
		tips: []string{"expose for the shadows", "carry the camera every day", "take fewer, better pictures",
			"keep notes of every roll", "print more than you post"},
		names: []string{"Frames", "Exposure", "Darkroom", "Contact Sheet", "Negative", "Aperture", "Grain"},
	},
	{
		subject: "home repairs",
		nouns: []string{"the mixer tap", "a sash window", "the boiler", "damp", "the fuse box", "a squeaky floorboard",
			"grout", "the gutters", "a sticking door", "radiators", "the shed roof", "lime plaster"},
		doings: []string{"fixed the dripping mixer tap", "rehung the back door", "bled the radiators",
			"cleared the gutters before the rain", "patched the shed roof", "replaced the washer on the bath tap",
			"repointed a bit of the garden wall", "traced the draught to a gap under the skirting"},
		tips: []string{"turn the water off first", "take a photo before taking anything apart",
			"buy one more fixing than you need", "a cheap stud finder is worth it", "old houses move; let them"},
		names: []string{"Toolbox", "Fixes", "Repairs", "Odd Jobs", "Spanner", "Handiwork", "Mending"},
	},
	{
		subject: "cooking",
		nouns: []string{"bean stew", "the cast iron pan", "stock", "pickles", "flatbread", "curry paste", "dumplings",
			"the spice drawer", "soup", "preserves", "the slow cooker", "lentils"},
		doings: []string{"cooked bean stew for a crowd", "made stock from the week's bones", "pickled the glut of cucumbers",
			"seasoned the cast iron pan again", "folded dumplings with friends", "ground spices for a curry paste",
			"made jam from the hedgerow"},
		tips: []string{"salt early and taste often", "a squeeze of lemon fixes most soups", "toast the spices first",
			"cook more than you need and freeze the rest", "a sharp knife is a safe knife"},
		names: []string{"Kitchen", "Pantry", "Larder", "Stove", "Table", "Skillet", "Pot"},
	},
	{
		subject: "astronomy",
		nouns: []string{"the telescope", "Jupiter's moons", "the Moon", "star charts", "light pollution", "the Orion Nebula",
			"binoculars", "meteor showers", "the mount", "dark skies", "eyepieces", "Saturn"},
		doings: []string{"watched the Perseids from the garden", "collimated the telescope", "found the Andromeda galaxy",
			"drove out to darker skies", "sketched the Moon at the eyepiece", "stayed up for Saturn",
			"built a dew shield from a camping mat"},
		tips: []string{"let your eyes adapt for twenty minutes", "start with binoculars", "check the forecast for cloud and wind",
			"use red light only", "dress warmer than you think"},
		names: []string{"Skywatch", "Night Sky", "Observatory", "Starfield", "Eyepiece", "Dark Sky", "Zenith"},
	},
}

// Words for names of sites and organisations.
var (
	adjectives = []string{"Quiet", "Little", "Northern", "Old", "Green", "Small", "Slow", "Hidden", "Back",
		"Upper", "Lower", "Western", "Bright", "Misty", "Sunny", "Windy", "Hollow", "Long", "Far", "Red"}
	places = []string{"Lane", "Hill", "Brook", "Field", "Moor", "Ford", "Bridge", "Wood", "Valley", "Meadow",
		"Cross", "Wharf", "Mill", "Common", "Street", "Yard", "Green", "Acre", "Row", "Gate"}
	firstNames = []string{"Anna", "Tom", "Maria", "Jon", "Eva", "Sam", "Lena", "Paul", "Nina", "Ben", "Clara",
		"Jakob", "Ruth", "Ivan", "Marta", "Leo", "Alice", "Omar", "Helen", "Pieter", "Sofia", "Karl"}
	orgWords = []string{"Systems", "Media", "Labs", "Networks", "Digital", "Solutions", "Hosting", "IT",
		"Services", "Consulting", "Studio", "Works", "Group", "Technologies", "Data"}
	seasons = []string{"spring", "summer", "autumn", "winter"}
)

// Sentence frames; %s is filled with a noun, a doing or a tip.
var (
	doingFrames = []string{
		"Last %[2]s I %[1]s, and it went better than expected.",
		"This week I finally %[1]s.",
		"Over the %[2]s I %[1]s, more or less by accident.",
		"On Saturday I %[1]s while the radio played.",
		"I %[1]s again this %[2]s; the notes below are mostly for me.",
		"A friend came round and we %[1]s together.",
	}
	nounFrames = []string{
		"Most of the trouble with %s comes from impatience.",
		"I keep coming back to %s.",
		"Nobody warned me how much time %s would take.",
		"There is a lot of advice about %s, and much of it contradicts the rest.",
		"I have written about %s before, but things have changed since.",
		"The short version: %s behaved, for once.",
		"I learned more about %s this year than in the five before it.",
	}
	tipFrames = []string{
		"If there is one thing to take from this: %s.",
		"My advice, for what it is worth: %s.",
		"An old neighbour's rule, which I ignored for years: %s.",
		"Looking back, the lesson is this: %s.",
		"The rule I now follow is simple: %s.",
	}
	closers = []string{
		"More next time.", "That is all for now.", "Questions are welcome by email.",
		"I will report back in a few weeks.", "Thanks for reading.", "",
	}
)
