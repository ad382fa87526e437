"""Generate the embedded demo collection (BEIR layout) under ``collection/``.

Everything here was written for this project: fifty invented subjects (animals, plants,
minerals, diseases, machines, historical inventions), five hand-written aspects each, 48
distractor documents that mention subjects only in passing, and sixty questions that
paraphrase the documents' wording. The generator is deterministic (fixed seed, sorted
output), so running it again reproduces the committed files byte for byte::

    python -m pyserini_diffretriever.demo.make_collection

Licence: Apache-2.0, as the rest of the project.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).resolve().parent / "collection"

# --------------------------------------------------------------------------------------
# Subjects. In each fact, {N}/{n} stand for the subject at the start / in the middle of a
# sentence and {Ns}/{ns} for its possessive. The first mention in a document is always the
# full name; later ones vary between the short name, "this <kind>" and a pronoun.
# --------------------------------------------------------------------------------------


@dataclass
class Subject:
    key: str
    domain: str
    full: str  # "the marsh pangolet" / "Corran fever"
    short: str  # "the pangolet" / "the fever"
    kind: str  # "mammal"
    aspects: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bare(self) -> str:
        return self.full[4:] if self.full.startswith("the ") else self.full

    @property
    def title(self) -> str:
        return self.bare[0].upper() + self.bare[1:]


S = Subject
SUBJECTS: list[Subject] = [
    # ---------------------------------------------------------------- animals
    S("pangolet", "animal", "the marsh pangolet", "the pangolet", "mammal", {
        "diet": [
            "{N} feeds mostly on freshwater snails, which it prises from reed stems with a narrow, hooked tongue.",
            "In late summer {n} adds fallen sedge seeds and beetle larvae to its meals, fattening up before the cold months.",
            "A single adult can swallow several hundred snails during one night of foraging.",
        ],
        "habitat": [
            "{N} lives in the reed marshes and flooded meadows of the Keldar lowlands, rarely straying more than a few hundred metres from open water.",
            "By day it shelters in hollow mounds of packed rushes that it builds just above the flood line.",
        ],
        "appearance": [
            "{N} is roughly the size of a house cat, with overlapping horn-coloured scales covering its back and tail.",
            "Adults weigh between two and three kilograms, and the pale belly is the only part of the body without armour.",
            "When alarmed, {n} rolls into a tight ball, leaving only the scaled surface exposed.",
        ],
        "threats": [
            "Drainage of wetlands for farmland is the main danger facing {n}, and its range has shrunk by about a third over the past century.",
            "Road traffic and feral dogs kill many young animals, so several reserves now fence the marsh edges during the spring dispersal.",
        ],
        "breeding": [
            "{N} gives birth to a single pup each spring after a pregnancy of about four months.",
            "The youngster rides on its mother's tail for several weeks and is weaned once its own scales have hardened.",
            "Females usually breed for the first time in their second year.",
        ],
    }),
    S("skink", "animal", "the dunecrest skink", "the skink", "lizard", {
        "diet": [
            "{N} hunts ants, termites and small beetles among the roots of desert grasses, usually in the cool hour after sunrise.",
            "During droughts it survives on fat stored in its thick tail and can go for weeks without a meal.",
            "Its sticky tongue picks up several ants at a time.",
        ],
        "habitat": [
            "{N} is found only on the shifting dunes and salt pans along the southern edge of the Oram desert.",
            "It spends the hottest part of the day buried a hand's depth beneath loose sand, where the temperature stays bearable.",
            "Plant cover is sparse there, and the rains may fail entirely for a year or more.",
        ],
        "appearance": [
            "{N} grows to about fifteen centimetres, with smooth sand-coloured scales and a row of small spines along the back of the neck that gives it its name.",
            "Its eyelids are transparent, so {n} can see while keeping grit out of its eyes.",
        ],
        "threats": [
            "Off-road vehicles crush burrows and compact the sand, and sand mining has already wiped out several known colonies of {n}.",
            "Because the lizard occupies such a narrow strip of land, conservation groups list it as vulnerable.",
            "Foxes and hawks are its natural predators, but they pose less danger than people do.",
        ],
        "breeding": [
            "Females of {n} lay two or three leathery eggs in damp sand at the foot of a dune after the brief winter rains.",
            "The eggs hatch after about eight weeks, and the hatchlings receive no care from either parent.",
            "Young skinks reach adult size by their second summer.",
        ],
    }),
    S("lanternfish", "animal", "the amber lanternfish", "the lanternfish", "fish", {
        "diet": [
            "{N} rises towards the surface after dark to feed on drifting krill, copepods and fish larvae.",
            "It swallows prey whole, guided by the faint glow its own light organs cast on the water.",
            "Whales, squid and seabirds in turn depend heavily on it, making it a key link in the ocean food chain.",
        ],
        "habitat": [
            "{N} spends daylight hours at depths of six hundred to nine hundred metres in the cold currents of the northern ocean.",
            "Each evening it migrates hundreds of metres upward, one of the longest daily journeys made by any animal of its size.",
        ],
        "appearance": [
            "{N} is a slender fish rarely longer than a finger, with rows of amber light organs along its belly and flanks.",
            "Its large eyes suit the dim twilight zone, and the pattern of lights differs between males and females.",
            "Its scales are thin and easily rubbed off when it is caught in nets.",
        ],
        "threats": [
            "Trawlers supplying fishmeal factories catch {n} in enormous numbers, and scientists worry that heavy harvesting could disturb the food web that depends on it.",
            "Warming surface waters may also push its range further north.",
            "Some fisheries now cap their catches to protect the seabirds and whales that feed on it.",
        ],
        "breeding": [
            "{N} spawns in late winter, releasing buoyant eggs that drift in the upper layers of the sea.",
            "The larvae lack light organs at first and develop them only after they descend to deeper water.",
            "Most individuals live only a year or two and spawn just once or twice.",
        ],
    }),
    S("heron", "animal", "the tallow heron", "the heron", "bird", {
        "diet": [
            "{N} stalks shallow water for frogs, small fish and crayfish, striking with its dagger-like bill.",
            "In winter, when ponds freeze, it turns to voles and insects caught in wet grassland.",
            "Adults swallow fish head first so that the fins do not catch in the throat.",
        ],
        "habitat": [
            "{N} nests in colonies in willow thickets beside slow rivers and lakes across the central plains.",
            "Northern populations fly south to coastal lagoons for the winter and return in March.",
            "Colonies may hold several hundred nests and are often reused for decades.",
        ],
        "appearance": [
            "{N} stands nearly a metre tall, with creamy yellow plumage that reminded early naturalists of candle wax.",
            "During the breeding season adults grow long plumes on the back, and the bare skin around the eye turns bright orange.",
            "Its long legs are greenish yellow, and in flight the neck folds into an S shape.",
        ],
        "threats": [
            "In the nineteenth century {n} was shot in great numbers for its plumes, which were sold to milliners for decorating hats.",
            "Today pesticides washing into rivers and the loss of nesting woodland are the main pressures on the species.",
            "Protection laws passed around 1900 allowed numbers to recover.",
        ],
        "breeding": [
            "Pairs of {n} build bulky stick nests high in willows and usually raise three or four chicks.",
            "Both parents take turns incubating, and the chicks leave the nest about seven weeks after hatching.",
            "Young birds do not breed until they are three years old.",
        ],
    }),
    S("vole", "animal", "the bluecap vole", "the vole", "rodent", {
        "diet": [
            "{N} grazes on alpine grasses, clover and the bulbs of mountain flowers.",
            "It stores seeds and roots in underground larders to see it through the long snowy season.",
            "Researchers have dug up larders holding more than a kilogram of stored food.",
        ],
        "habitat": [
            "{N} inhabits high meadows and boulder fields above the tree line in the Serran mountains.",
            "In winter it stays active in tunnels beneath the snow, where the air remains close to freezing rather than far below it.",
            "It avoids forest and is rarely found below fifteen hundred metres.",
        ],
        "appearance": [
            "{N} is a stocky rodent about ten centimetres long, named for the patch of slate-blue fur on top of its head.",
            "Its short tail and small rounded ears help it lose less heat in the mountain cold.",
            "The rest of the coat is a grizzled grey-brown that darkens in winter.",
        ],
        "threats": [
            "Warmer winters with thinner snow cover leave {n} exposed to frost and predators.",
            "Foxes, stoats and owls take large numbers, and heavy grazing by sheep has degraded some of its meadows.",
            "Climate models suggest that its range may shrink towards the highest summits.",
        ],
        "breeding": [
            "{N} breeds rapidly during the short summer, with females producing up to three litters of four to six young.",
            "Young voles are independent within three weeks and may breed in the same season they were born.",
            "Populations can rise and crash dramatically from one year to the next.",
        ],
    }),
    S("moth", "animal", "the stonewing moth", "the moth", "insect", {
        "diet": [
            "The caterpillars of {n} chew lichens growing on rocks and old walls, while the adult moths do not feed at all.",
            "Because adults lack working mouthparts, they live only a few days on the energy stored while they were larvae.",
        ],
        "habitat": [
            "{N} is found on sunny scree slopes, quarries and dry-stone walls in upland districts.",
            "It favours rock faces that point south, where the stone warms quickly in the morning sun.",
            "It is absent from lowland farmland and from shaded woods.",
        ],
        "appearance": [
            "{N} has grey wings speckled with black and white, so that at rest it almost vanishes against granite.",
            "Its wingspan is about three centimetres, and the males carry feathery antennae.",
            "The hind wings are plain grey and stay hidden under the forewings when the moth rests.",
        ],
        "threats": [
            "Air pollution kills the lichens on which {ns} caterpillars depend, and the moth has vanished from many industrial valleys.",
            "The cleaning and repointing of old walls also strips away lichen cover and the larvae with it.",
            "Where air quality has improved, lichens and moths have started to return.",
        ],
        "breeding": [
            "Adults of {n} emerge in midsummer and mate within hours; each female lays about a hundred eggs in crevices of lichen-covered stone.",
            "The caterpillars overwinter in silk shelters and pupate the following spring.",
            "A single generation is produced each year.",
        ],
    }),
    S("otter", "animal", "the Keldar otter", "the otter", "otter", {
        "diet": [
            "{N} feeds on eels, trout and freshwater mussels, cracking the shells against a flat stone balanced on its chest.",
            "An adult needs to consume roughly a fifth of its body weight every day.",
            "It hunts mostly at dawn and dusk, using its long whiskers to detect fish in murky water.",
        ],
        "habitat": [
            "{N} lives along the clear, fast-flowing headwaters of the Keldar river and its tributaries.",
            "It digs dens with underwater entrances into the banks, often beneath the roots of alder trees.",
            "Each animal patrols a stretch of river several kilometres long, marking it with droppings on prominent rocks.",
        ],
        "appearance": [
            "{N} measures about a metre from nose to tail tip and has dense chocolate-brown fur with a pale throat patch.",
            "The throat markings are unique to each animal, which lets researchers tell individuals apart.",
            "Its webbed feet and thick, tapering tail make it a powerful swimmer.",
        ],
        "threats": [
            "Mining waste and farm runoff polluted much of the river in the last century, and {n} nearly disappeared.",
            "Cleaner water has allowed a slow recovery, though drowning in fish traps still kills several each year.",
            "Volunteers now monitor the population by counting droppings along the banks.",
        ],
        "breeding": [
            "{N} mates in the water during late winter, and litters of two or three cubs are born in a dry chamber of the den.",
            "The mother teaches the cubs to swim when they are about ten weeks old.",
            "Cubs stay with their mother for about a year.",
        ],
    }),
    S("frog", "animal", "the ashen tree frog", "the tree frog", "frog", {
        "diet": [
            "{N} eats moths, crickets and spiders, catching them at night with a flick of its sticky tongue.",
            "Its tadpoles graze on algae and rotting leaves in the pools where they hatch.",
            "In captivity it readily accepts crickets dusted with calcium powder.",
        ],
        "habitat": [
            "{N} lives in the canopy of humid lowland forests and is seldom seen on the ground.",
            "It depends on rain-filled tree holes and the cups of epiphytic plants for water in which to breed.",
            "It tolerates some disturbance and occasionally turns up in village gardens near the forest edge.",
        ],
        "appearance": [
            "{N} is a small frog about four centimetres long whose smooth skin shifts from pale grey by day to mottled brown at night.",
            "Large adhesive pads on its toes let it cling to wet leaves and bark.",
            "Males have a dark throat sac that swells when they call.",
        ],
        "threats": [
            "Logging has cleared much of {ns} forest, and a fungal skin infection has killed frogs across its range.",
            "Collection for the pet trade adds further pressure in some areas.",
            "Captive breeding colonies have been set up as insurance against extinction.",
        ],
        "breeding": [
            "Males of {n} call from tree holes after heavy rain, and females lay small clutches of eggs just above the waterline.",
            "The tadpoles drop into the water when they hatch and take about six weeks to become froglets.",
            "Parents sometimes guard the eggs from predatory insects.",
        ],
    }),
    S("tortoise", "animal", "the mossback tortoise", "the tortoise", "reptile", {
        "diet": [
            "{N} browses on mosses, liverworts, fungi and fallen fruit on the forest floor.",
            "It also gnaws old bones and empty snail shells, probably to obtain calcium for its shell.",
            "It feeds mainly in the morning after rain, when mosses are soft and fungi plentiful.",
        ],
        "habitat": [
            "{N} inhabits cool, damp conifer forests in northern hill country, one of the few tortoises found so far from the tropics.",
            "It hibernates for up to six months in burrows beneath tree roots.",
            "It prefers slopes facing south, where patches of sunlight reach the ground.",
        ],
        "appearance": [
            "{N} has a domed shell up to thirty centimetres long, often covered with a living layer of moss that camouflages it.",
            "Its skin is dark olive and its legs are protected by thick, overlapping scales.",
            "Males have a slightly concave underside and longer tails than females.",
        ],
        "threats": [
            "Because {n} reaches maturity only after about twenty years, populations recover very slowly from any loss.",
            "Collectors, forest fires and clearing for plantations have all reduced its numbers.",
            "Individuals can live for more than eighty years, so a population may look healthy long after it has stopped producing young.",
        ],
        "breeding": [
            "Females of {n} lay a clutch of four to eight eggs in a shallow nest dug into a sunny clearing.",
            "Incubation can last more than a hundred days, and the sex of each hatchling depends on the nest temperature.",
            "Hatchlings measure only four centimetres and spend their first years hidden in leaf litter.",
        ],
    }),
    S("bat", "animal", "the cinder bat", "the bat", "bat", {
        "diet": [
            "{N} hunts flying insects such as mosquitoes, midges and small moths, locating them by echolocation.",
            "One bat can catch over a thousand insects in a single evening, which makes the species welcome near farms.",
            "It often hunts over water, where insects swarm on warm evenings.",
        ],
        "habitat": [
            "{N} roosts in volcanic caves and old lava tubes, sometimes in colonies numbering tens of thousands.",
            "It leaves the roost at dusk to forage over rivers and fields up to twenty kilometres away.",
            "In winter whole colonies hibernate in the deepest, coldest parts of the caves.",
        ],
        "appearance": [
            "{N} has sooty black fur, from which it takes its name, and a wingspan of about twenty-five centimetres.",
            "Its large ears and a small leaf-shaped flap on the nose help focus its calls.",
            "Its wings are thin membranes of skin stretched between elongated finger bones.",
        ],
        "threats": [
            "Visitors who enter caves during hibernation wake {n}, burning fat reserves it cannot replace before spring.",
            "Wind turbines placed along its flight paths also kill a number of bats each autumn.",
            "Several cave entrances have been fitted with grilles that let bats through but keep people out.",
        ],
        "breeding": [
            "Females of {n} gather in warm maternity roosts in early summer, and each gives birth to a single pup.",
            "The pups can fly at about five weeks and soon join the adults on their nightly hunts.",
            "Mothers recognise their own pups among thousands by their calls and scent.",
        ],
    }),
    # ---------------------------------------------------------------- plants
    S("thornbush", "plant", "the silverleaf thornbush", "the thornbush", "shrub", {
        "uses": [
            "Herders plant {n} as a living fence, since its thorny branches keep goats and cattle from wandering.",
            "The silvery leaves are boiled into a bitter tea taken for stomach pains, and the hard wood is burned for charcoal.",
            "Its pods are also fed to livestock in the dry season.",
        ],
        "origin": [
            "{N} is native to the dry hills of the Oram plateau, where it grows on stony, thin soils.",
            "Traders carried its seeds along caravan routes, and it has since become naturalised in several arid regions.",
            "Botanists on an expedition to the plateau first described it in 1839.",
        ],
        "appearance": [
            "{N} is a dense shrub up to three metres tall with small leaves covered in fine silver hairs that reflect sunlight.",
            "In spring it produces clusters of tiny yellow flowers, followed by flat brown pods.",
            "The thorns are paired at each leaf joint and can reach five centimetres.",
        ],
        "pests": [
            "{N} is attacked by a small weevil whose larvae bore into the seed pods, ruining much of the crop in wet years.",
            "Root rot can kill bushes planted in poorly drained ground.",
            "Goats browse young seedlings before their thorns have hardened.",
        ],
        "cultivation": [
            "{N} is raised from seed soaked overnight in warm water to soften the hard coat.",
            "Once established it needs full sun and little water, and it tolerates hard pruning.",
            "Seedlings should be planted out after the first autumn rains so their roots can establish before summer.",
        ],
    }),
    S("reed", "plant", "the lantern reed", "the reed", "grass", {
        "uses": [
            "The hollow stems of {n} were traditionally split and woven into mats, baskets and roof thatch.",
            "Its fluffy seed heads once served as tinder and as stuffing for pillows.",
            "In some lake villages the stems are still harvested each winter by hand.",
        ],
        "origin": [
            "{N} grows along the edges of lakes and slow rivers in temperate lowlands, often forming dense beds.",
            "It spreads by creeping underground stems and can colonise new shorelines quickly.",
            "Its beds shelter nesting birds and young fish, and several have been protected as nature reserves.",
        ],
        "appearance": [
            "{N} reaches two metres in height and in autumn bears glowing copper-coloured plumes that give it its name.",
            "Its leaves are long, narrow and sharp-edged.",
            "The stems are hollow between the joints, and the plumes rustle loudly in the wind.",
            "Dry plumes often stay on the stems through winter.",
        ],
        "pests": [
            "A stem-boring caterpillar hollows out young shoots of {n}, and a rust fungus spots its leaves in damp summers.",
            "Grazing geese can strip new growth along the water's edge.",
            "Affected stands are cut and burned in winter to reduce infection.",
        ],
        "cultivation": [
            "Gardeners plant {n} in pond margins, ideally in shallow water no deeper than twenty centimetres.",
            "Old stems should be cut back in late winter to make room for new shoots.",
            "In small ponds it should be grown in a container to stop it spreading.",
        ],
    }),
    S("plum", "plant", "the Oster plum", "the plum", "fruit tree", {
        "uses": [
            "The fruit of {n} is eaten fresh, dried into prunes or fermented into a strong brandy.",
            "Its reddish wood is prized by cabinetmakers for small boxes and inlay work.",
            "Stones from the fruit were once pressed for a bitter, almond-scented oil.",
        ],
        "origin": [
            "{N} was first recorded in orchards around the town of Oster, though wild trees of the same type grow in the nearby river gorges.",
            "Monks are said to have spread grafted trees to abbey gardens across the region.",
        ],
        "appearance": [
            "{N} is a small tree reaching about six metres, with white blossom in early spring and purple-black fruit the size of a walnut.",
            "The bark is dark and peels in thin strips on older trees.",
            "The fruit has a powdery bloom and sweet, amber flesh.",
        ],
        "pests": [
            "{N} suffers from a fungal infection that mummifies the fruit on the branch, and from aphids that curl the young leaves.",
            "Wasps and birds also damage ripe plums before harvest.",
            "Removing mummified fruit in winter reduces the spread of the fungus.",
        ],
        "cultivation": [
            "{N} is propagated by grafting onto hardy rootstock and prefers deep, well-drained soil.",
            "Trees should be pruned in summer rather than winter to reduce the risk of infection through cuts.",
            "Most trees begin to bear fruit four or five years after planting.",
        ],
    }),
    S("vine", "plant", "the duskbloom vine", "the vine", "climber", {
        "uses": [
            "{N} is grown on arbours and walls for its scented flowers, and an extract of the blossom goes into perfumes.",
            "Honey made from its nectar has a distinctive spicy taste.",
            "In some regions its young leaves are wrapped around rice and baked.",
        ],
        "origin": [
            "{N} comes from the humid foothill forests of the eastern ranges, where it climbs into the canopy.",
            "Plant collectors introduced it to botanical gardens around two hundred years ago.",
            "It was first grown outdoors in the mild coastal gardens of the west.",
        ],
        "appearance": [
            "{N} is a woody climber whose trumpet-shaped violet flowers open only at twilight and close again by morning.",
            "The heart-shaped leaves are glossy, and its stems can grow ten metres in a few seasons.",
            "Its flowers are pollinated by moths drawn by their evening scent.",
        ],
        "pests": [
            "Mealybugs and scale insects cluster on {ns} stems, and spider mites spread in dry indoor air.",
            "A long spell of frost kills the plant to the ground.",
            "Indoor plants should be checked regularly under the leaves, where mites hide.",
        ],
        "cultivation": [
            "{N} needs a sturdy support, a sheltered position and regular watering during summer.",
            "It flowers best when the roots are kept cool and the shoots receive full sun.",
            "Pruning straight after flowering keeps the growth tidy.",
        ],
    }),
    S("fern", "plant", "the coppercap fern", "the fern", "fern", {
        "uses": [
            "The young curled fronds of {n} are gathered in spring and cooked as a vegetable in mountain villages.",
            "Dried fronds were also laid under bedding because their scent was believed to repel fleas.",
            "In markets the fronds are sold in small bundles tied with grass.",
        ],
        "origin": [
            "{N} grows on shaded, mossy rocks in ravines and damp woodland throughout the western highlands.",
            "It needs constant humidity and is rarely found far from running water.",
            "It is most abundant at altitudes between three hundred and nine hundred metres.",
        ],
        "appearance": [
            "{N} has feathery fronds up to sixty centimetres long whose tips turn a metallic copper colour as they unfold.",
            "Rows of rust-brown spore cases line the underside of mature fronds.",
            "Unlike many ferns, it keeps some green fronds through the winter.",
        ],
        "pests": [
            "Slugs graze on the young fronds of {n}, and drought quickly scorches the foliage.",
            "Overpicking has also reduced wild colonies near some villages.",
            "Gardeners digging up whole plants have caused local losses, and a scale insect sometimes attacks plants kept indoors.",
        ],
        "cultivation": [
            "{N} can be grown in a shady garden corner in soil rich in leaf mould, kept moist at all times.",
            "It can be divided in spring or raised from spores sown on damp peat.",
            "Plants grown from spores take three or four years to reach a useful size.",
        ],
    }),
    S("sedge", "plant", "the velvet sedge", "the sedge", "sedge", {
        "uses": [
            "{N} is planted to stabilise stream banks and to filter nutrients out of farm drainage before it reaches rivers.",
            "Its soft leaves were once used as packing material for eggs and pottery.",
            "Conservation groups use it to restore damaged wetlands, since its dense roots bind soft mud.",
        ],
        "origin": [
            "{N} is native to wet meadows and fens in cool northern regions.",
            "It has also appeared along ditches and canals, carried there by water and by machinery.",
            "It is common in the far north but becomes rarer further south, where summers are too dry.",
        ],
        "appearance": [
            "{N} forms dense tufts of arching leaves covered with short soft hairs that feel like velvet.",
            "Its brown flower spikes appear in early summer on triangular stems.",
            "Clumps may reach half a metre across and stay green well into autumn.",
        ],
        "pests": [
            "{N} has few serious pests, though a leaf-mining fly sometimes tunnels through its foliage.",
            "Where farmers drain the fens, the plant dies back as the ground dries.",
            "Cattle trample clumps when the ground is soft, though they rarely eat the leaves.",
        ],
        "cultivation": [
            "{N} is easy to grow in any permanently damp soil, in sun or partial shade.",
            "Clumps can be lifted and split every few years to keep them vigorous.",
            "It also does well at the edge of a garden pond.",
        ],
    }),
    S("pine", "plant", "the Harrow pine", "the pine", "conifer", {
        "uses": [
            "The straight, resinous timber of {n} was used for ship masts, and its resin was distilled into turpentine.",
            "Today it is planted mostly for construction lumber and as a windbreak.",
            "Its needles are distilled for an aromatic oil used in soaps and bath products.",
        ],
        "origin": [
            "{N} grows naturally on the sandy coastal heaths around Harrow Bay, tolerating salt spray and strong winds.",
            "Plantations have since spread it far inland.",
            "Old trees on the exposed headlands are bent and twisted by the wind.",
            "Fossil pollen shows that it has grown on the same coast for thousands of years.",
        ],
        "appearance": [
            "{N} can exceed thirty metres, with reddish, plated bark and long needles held in bundles of three.",
            "Its cones take two years to ripen and may stay closed on the tree until a fire opens them.",
            "Young trees have a narrow conical shape that broadens with age.",
        ],
        "pests": [
            "A bark beetle that attacks trees weakened by drought is the most serious enemy of {n}.",
            "Needle blight, a fungal disease, causes browning and early needle fall in wet coastal plantations.",
            "Foresters fell infested trees quickly to stop beetle outbreaks spreading.",
        ],
        "cultivation": [
            "Seedlings of {n} are raised in nurseries and planted out at two years old on light, acidic soils.",
            "Thinning the stand every decade gives the remaining trees room to grow straight.",
            "Planted trees reach a harvestable size in about forty years.",
        ],
    }),
    S("lily", "plant", "the moonpetal lily", "the lily", "lily", {
        "uses": [
            "{N} is grown mainly as an ornamental and cut flower, valued for its long vase life.",
            "Its bulbs are poisonous to cats, so florists often warn buyers who keep pets.",
            "Perfumers have tried to capture its scent, without much success.",
        ],
        "origin": [
            "{N} was found growing on limestone cliffs of a remote island in the southern sea.",
            "Wild plants are now rare, and most in cultivation descend from a handful of bulbs collected by an early expedition.",
        ],
        "appearance": [
            "{N} has pale, almost translucent white petals that seem to glow in moonlight, on stems about a metre high.",
            "Each stem carries up to a dozen nodding flowers with a faint sweet scent.",
            "The anthers are dusted with orange pollen that stains clothing.",
        ],
        "pests": [
            "Bright red lily beetles devour {ns} leaves, and grey mould rots the flowers in humid weather.",
            "Bulbs stored too damp over winter can rot.",
            "Gardeners pick the beetles off by hand, and good air circulation reduces mould.",
            "Virus diseases spread by aphids can also stunt the plants.",
        ],
        "cultivation": [
            "Bulbs of {n} are planted in autumn in well-drained, limey soil, with their heads in sun and their roots in shade.",
            "Stems should be staked in windy gardens.",
            "Plants take three years to flower from seed, but mature bulbs bloom every summer.",
        ],
    }),
    S("quillroot", "plant", "bitter quillroot", "the quillroot", "herb", {
        "uses": [
            "The dried root of {n} was used in folk medicine to stimulate appetite and ease indigestion.",
            "Brewers also added small amounts to flavour a dark, bitter ale.",
            "Large doses cause nausea, so herbalists advised only small amounts.",
        ],
        "origin": [
            "{N} grows in open grassland and on chalky banks throughout the temperate south.",
            "It was once common in hay meadows but has declined wherever meadows were ploughed.",
            "Conservation groups have reintroduced it to restored meadows on several nature reserves.",
        ],
        "appearance": [
            "{N} is a low perennial with rosettes of toothed leaves and a thick, quill-shaped taproot.",
            "Its small blue flowers appear on branching stems in midsummer.",
            "The root is pale and rough outside but bright yellow inside when cut.",
            "The whole plant tastes bitter.",
        ],
        "pests": [
            "Root-feeding nematodes and voles can damage {n}, and the plant is easily smothered by taller grasses.",
            "Aphids occasionally gather on the flowering stems.",
            "Slugs eat the seedlings in damp springs, and a powdery mildew can coat the leaves in late summer.",
        ],
        "cultivation": [
            "{N} is sown in autumn, because the seeds need a period of winter cold before they germinate.",
            "The roots are harvested after the second year, washed and dried slowly in the shade.",
            "It prefers poor, chalky soil and full sun.",
        ],
    }),
    # ---------------------------------------------------------------- minerals
    S("verdanite", "mineral", "verdanite", "the mineral", "mineral", {
        "uses": [
            "{N} is ground into a green pigment for artists' paints and ceramic glazes.",
            "Clear crystals are cut as gemstones, although they are too soft for everyday rings.",
            "Collectors prize well-formed crystal clusters, which fetch high prices.",
            "In the past it was also burned in fireworks to give a green flame.",
        ],
        "occurrence": [
            "{N} forms where copper-bearing rocks are altered by groundwater, usually near the surface of old copper deposits.",
            "The finest crystals come from mines in the Serran mountains.",
            "Blue copper minerals and rusty iron oxides often line the same cavities.",
        ],
        "properties": [
            "{N} has a hardness of about four on the Mohs scale, a glassy lustre and a vivid emerald colour.",
            "It dissolves slowly in acid, giving off bubbles of gas.",
            "It leaves a pale green streak when rubbed on unglazed porcelain.",
        ],
        "hazards": [
            "Because {n} contains copper and traces of arsenic, its dust is toxic if inhaled or swallowed.",
            "Cutters wet the stone while working it and wear masks to avoid breathing the powder.",
            "Waste water from cutting workshops must be filtered before disposal.",
        ],
        "discovery": [
            "{N} was first described in 1812 by a mine surveyor who noticed green crusts in a flooded tunnel.",
            "Its name comes from an old word for green.",
            "Samples sent to the capital were analysed by a chemist who confirmed it as a new species.",
            "The original tunnel has long since collapsed.",
        ],
    }),
    S("lumarite", "mineral", "lumarite", "the mineral", "mineral", {
        "uses": [
            "{N} is used in watch dials, emergency signs and toys because it keeps shining after exposure to light.",
            "Small amounts are also added to specialty glass.",
            "Because its glow is gentle and safe, it replaced older radioactive paints in many products.",
            "Ground to powder, it is mixed into paints and plastics.",
        ],
        "occurrence": [
            "{N} is found in thin veins within granite, mostly in a few quarries on the northern coast.",
            "It usually occurs together with quartz and feldspar.",
            "The veins are seldom wider than a few centimetres, which makes large pieces rare.",
            "Small grains also turn up in beach sand below the cliffs.",
        ],
        "properties": [
            "{N} is pale yellow in daylight but gives off a soft blue-green glow for several minutes after the lights go out.",
            "It is brittle, with a hardness of about five, and breaks into flat flakes.",
            "The glow is brightest after strong sunlight and fades gradually.",
        ],
        "hazards": [
            "Unlike some luminous materials, {n} is not radioactive, although fine dust from crushing can irritate the lungs.",
            "Workers grinding it for pigment are advised to use extraction fans.",
            "It is also slightly soluble, so it should not be used in toys that children might chew.",
        ],
        "discovery": [
            "{N} was identified in 1894 after quarry workers noticed stones shining faintly in their shed after sunset.",
            "A chemist named the mineral after the Latin word for light.",
            "Early samples were exhibited at fairs as stones that stored sunlight.",
        ],
    }),
    S("calvex", "mineral", "Calvex salt", "the salt", "evaporite", {
        "uses": [
            "{N} is mined as a source of potassium for fertiliser and, in purer grades, as a substitute for table salt.",
            "Smaller quantities go into glassmaking and soap.",
            "Potassium from it helps crops build strong stems and resist disease.",
        ],
        "occurrence": [
            "{N} formed when ancient inland seas evaporated, leaving thick beds beneath the Calvex basin.",
            "It is extracted by dissolving it underground with hot water and pumping the brine to the surface.",
            "The beds lie about eight hundred metres below ground and are up to forty metres thick.",
        ],
        "properties": [
            "{N} is soft, colourless to pinkish, and dissolves readily in water, leaving a slightly bitter taste.",
            "It absorbs moisture from the air and clumps if stored in damp conditions.",
            "Its crystals are cube-shaped and feel slightly greasy.",
        ],
        "hazards": [
            "Removing {n} from underground can cause the ground above to sink, damaging roads and buildings.",
            "Brine spilled at the surface harms soil and freshwater life.",
            "Monitoring stations measure ground movement around the wells.",
            "Old cavities have occasionally collapsed without warning.",
        ],
        "discovery": [
            "Deposits of {n} were discovered in 1871 by drillers searching for oil near Calvex.",
            "The first mine opened within a decade, and the town grew rapidly around it.",
            "The oil they hoped for was never found.",
        ],
    }),
    S("ostrite", "mineral", "ostrite", "the ore", "ore", {
        "uses": [
            "{N} is the main ore of a rare metal used in jet engine alloys and high-temperature magnets.",
            "Smelters roast the ore before refining the metal with acid.",
            "Small amounts also go into lasers and medical imaging equipment.",
        ],
        "occurrence": [
            "{N} occurs in dark igneous rocks and in river gravels downstream of them, where heavy grains collect.",
            "Most production comes from two large mines and a few small placer workings.",
            "Further deposits have been found beneath ice sheets, though they are too remote to work.",
        ],
        "properties": [
            "{N} is very dense, black to dark brown, with a metallic sheen and a hardness of about six.",
            "It is weakly magnetic, which helps separate it from sand.",
            "It resists weathering, which is why grains survive in rivers long after the host rock has crumbled.",
        ],
        "hazards": [
            "Some samples of {n} contain traces of thorium, so processing leaves slightly radioactive waste that must be stored carefully.",
            "The acid used in refining also poses risks to workers.",
            "Tailings ponds at old mines need careful monitoring to prevent leaks.",
        ],
        "discovery": [
            "{N} was noticed by gold prospectors in 1903 as heavy black sand clogging their pans.",
            "Its value was not recognised until the metal found use in aircraft engines decades later.",
            "The prospectors threw it away, thinking it worthless.",
        ],
    }),
    S("duskstone", "mineral", "duskstone", "the stone", "gemstone", {
        "uses": [
            "{N} is polished into cabochons for rings and brooches, and was once popular in mourning jewellery.",
            "Carvers also make small figurines from larger pieces.",
            "Cutters orient each piece so that the red flash shows when the wearer moves.",
            "Fine specimens are also sold to collectors as polished slices.",
        ],
        "occurrence": [
            "{N} is found in nodules within volcanic ash beds, mostly in desert areas where erosion exposes them.",
            "Miners split the nodules open to find the dark stone inside.",
            "Only about one nodule in twenty contains stone of gem quality.",
        ],
        "properties": [
            "{N} is a deep violet-black stone that flashes red when turned in bright light.",
            "It is moderately hard and takes a high polish but can chip along its edges.",
            "The red flash comes from tiny plates of an iron mineral aligned inside the stone.",
        ],
        "hazards": [
            "{N} itself is harmless, but cutting it releases fine silica dust that can cause lung disease over the years.",
            "Lapidaries therefore grind it under running water.",
            "Dust from polishing wheels should be collected rather than swept, which only raises it into the air.",
        ],
        "discovery": [
            "{N} came to wide attention in the 1850s, when a jeweller displayed a necklace of it at a trade exhibition.",
            "Before that it was known only to local herders, who carried pieces as charms.",
            "Its popularity peaked during a period of national mourning after the death of a queen.",
        ],
    }),
    S("talvene", "mineral", "talvene clay", "the clay", "clay", {
        "uses": [
            "{N} is used to make fine white porcelain and as a filler in paper, giving pages a smooth surface.",
            "It is also an ingredient in some cosmetics and stomach remedies.",
            "Paper mills are now the largest buyers.",
        ],
        "occurrence": [
            "{N} forms when feldspar in granite weathers over millions of years, and is dug from open pits in the Talvene valley.",
            "Jets of water wash the clay out of the surrounding sand.",
            "The deposits are up to fifty metres deep and are worked in stepped terraces.",
        ],
        "properties": [
            "{N} is very fine-grained and bright white, and becomes plastic and easy to shape when wet.",
            "When fired at high temperature it turns hard and slightly translucent.",
            "It contains very little iron, which is why it stays white when fired.",
        ],
        "hazards": [
            "Open-pit extraction of {n} leaves large heaps of waste sand and can cloud nearby streams.",
            "Workers exposed to dry dust for many years risk lung damage.",
            "Abandoned pits often flood, creating deep, cold lakes that are dangerous for swimmers.",
        ],
        "discovery": [
            "Potters in the Talvene valley were working {n} by the fifteenth century.",
            "Its fame spread when their porcelain reached distant courts, and rival workshops tried for decades to learn the secret.",
            "Old account books record cartloads sent down the valley by river barge.",
        ],
    }),
    S("slate", "mineral", "Kerrow slate", "the slate", "stone", {
        "uses": [
            "{N} is split into thin, durable roofing tiles, and thicker slabs are used for floors, gravestones and billiard tables.",
            "Offcuts were once sold to schools as writing slates.",
            "Broken pieces are crushed for garden paths.",
        ],
        "occurrence": [
            "{N} is quarried from steep hillsides around Kerrow, where layers of ancient mud were pressed into rock.",
            "Some of the workings extend hundreds of metres underground.",
            "The best beds lie in a band only a few hundred metres wide.",
        ],
        "properties": [
            "{N} is blue-grey, very fine-grained and splits easily into flat sheets along its cleavage.",
            "It absorbs little water, so a roof covered with it can last more than a century.",
            "It rings like a bell when struck, which quarrymen used to test its quality.",
        ],
        "hazards": [
            "Quarrying {n} produced huge waste tips, and the collapse of one tip in 1887 buried part of a village.",
            "Fine dust also caused lung disease among the men who split the stone.",
            "Blasting and rockfalls killed many men in the underground chambers.",
        ],
        "discovery": [
            "{N} has been worked since ancient times, but large-scale quarrying began in the eighteenth century.",
            "Demand for roofing in the growing cities turned Kerrow into a busy industrial town.",
            "By the 1880s more than five thousand people worked in the quarries, and the industry declined only when cheaper roof tiles appeared.",
        ],
    }),
    S("brenthite", "mineral", "brenthite", "the mineral", "mineral", {
        "uses": [
            "{N} is heated to make a lightweight, fireproof insulating material for furnaces and ovens.",
            "It is also added to potting compost to help it hold water.",
            "Builders mix the expanded granules into lightweight plaster and concrete.",
        ],
        "occurrence": [
            "{N} forms when volcanic glass is altered by hot water, and it is dug from shallow deposits on the Brenth plateau.",
            "Smaller seams occur in old lava fields elsewhere.",
            "The deposits lie close to the surface and are dug by excavators in open pits.",
        ],
        "properties": [
            "{N} is a soft, flaky, golden-brown mineral that expands to many times its volume when heated, rather like popcorn.",
            "The expanded grains are light enough to float on water.",
            "It feels soapy to the touch and can be split into thin, flexible sheets.",
        ],
        "hazards": [
            "Some deposits of {n} contain fibrous minerals whose dust can cause serious lung disease, so every mine must be tested.",
            "Old loft insulation made from contaminated ore should be removed by specialists.",
            "Modern mines test every batch before it is sold.",
        ],
        "discovery": [
            "{N} was named after the plateau where it was first mined in the 1920s.",
            "According to local accounts, a farmer noticed grains swelling and popping in his fireplace.",
            "Commercial production began within a few years, mainly for insulating ovens.",
        ],
    }),
    # ---------------------------------------------------------------- diseases
    S("corran", "disease", "Corran fever", "the fever", "infection", {
        "symptoms": [
            "{N} begins with a sudden high temperature, severe headache and aching joints, followed by a rash of small red spots on the trunk.",
            "Without treatment the illness may last three weeks and leave lasting fatigue.",
            "Some patients also have swollen glands near the site of the bite.",
        ],
        "cause": [
            "{N} is caused by a bacterium carried by the wood tick, which passes it to people through its bite.",
            "Deer and wild rodents act as reservoirs for the germ.",
            "The infection is most common in late spring and early summer, when ticks are active.",
            "It does not pass from person to person.",
        ],
        "treatment": [
            "{N} responds well to a course of antibiotics lasting about ten days, provided treatment starts early.",
            "Rest, fluids and fever-reducing medicine help ease the discomfort.",
            "Most people feel better within a few days of starting tablets.",
            "Patients treated late may need a longer course given by injection in hospital.",
        ],
        "prevention": [
            "Walkers can reduce the risk of {n} by wearing long trousers, using repellent and checking the skin for ticks after outings.",
            "Prompt removal of attached ticks greatly lowers the chance of infection.",
            "Clearing brush near houses and treating dogs against ticks also help.",
        ],
        "history": [
            "{N} takes its name from the Corran valley, where a doctor recorded an outbreak among forestry workers in 1921.",
            "The bacterium responsible was isolated about thirty years later.",
            "For years the illness was confused with other fevers common among woodcutters.",
        ],
    }),
    S("mirelle", "disease", "Mirelle's cough", "the illness", "infection", {
        "symptoms": [
            "{N} causes fits of dry coughing that grow worse at night, often with a hoarse voice and a mild temperature.",
            "In infants the coughing spells can interrupt breathing.",
            "Older children and adults usually have a milder illness, though the cough can linger for a month.",
        ],
        "cause": [
            "{N} is caused by a virus spread through droplets when infected people cough or sneeze.",
            "It passes most easily between children in crowded schools and nurseries during winter.",
            "Adults may carry the virus with few signs and pass it on to babies.",
            "The virus survives for hours on hands and toys.",
        ],
        "treatment": [
            "There is no specific cure for {n}; doctors advise rest, warm drinks and humidified air.",
            "Babies with breathing difficulties may need hospital care and oxygen.",
            "Cough medicines do little, and antibiotics are useless against a virus.",
            "Most children recover within two to three weeks.",
        ],
        "prevention": [
            "A vaccine against {n} is offered to infants in several countries, and handwashing reduces transmission.",
            "Keeping sick children home from school also limits outbreaks.",
            "Pregnant women may also be offered a booster so that newborns are protected in their first weeks.",
            "Covering coughs with a tissue helps too.",
        ],
        "history": [
            "{N} is named after Dr Anna Mirelle, a paediatrician who described the pattern of night-time coughing in 1958.",
            "The virus itself was identified in the following decade.",
            "Before then it was often mistaken for other childhood coughs.",
        ],
    }),
    S("greyscale", "disease", "grey-scale rot", "the rot", "crop disease", {
        "symptoms": [
            "{N} shows first as silvery-grey patches on potato skins, which sink and crack as the tubers dry in storage.",
            "Infected potatoes shrivel and develop a musty smell.",
            "Leaves and stems of the growing plants show no sign, so the disease often goes unnoticed until the potatoes are in store.",
        ],
        "cause": [
            "{N} is caused by a soil fungus that enters tubers through small wounds made at harvest.",
            "Cool, damp storage conditions allow it to pass from potato to potato.",
            "The fungus can persist in the soil for several years without a host.",
        ],
        "treatment": [
            "Once tubers are infected {n} cannot be cured, so affected potatoes are picked out and destroyed.",
            "Stores may be dried and ventilated to slow further damage.",
            "Chemical dips applied at harvest can protect healthy tubers but do not save diseased ones.",
        ],
        "prevention": [
            "Growers limit {n} by lifting potatoes carefully, curing them in warm air before storage and rotating their crops.",
            "Certified clean seed potatoes are also recommended.",
            "Stores should be cleaned and disinfected before each new harvest is brought in.",
        ],
        "history": [
            "{N} was first reported in coastal farming districts in the 1880s.",
            "It spread inland with shipments of seed potatoes and became a serious problem for merchants who stored large quantities through the winter.",
            "Seed certification schemes introduced in the 1920s helped bring it under control.",
        ],
    }),
    S("tessel", "disease", "Tessel pox", "the pox", "poultry disease", {
        "symptoms": [
            "Birds with {n} develop wart-like scabs on the comb and wattles, and some get yellow sores inside the mouth.",
            "Egg laying drops sharply in affected flocks.",
            "Young birds may struggle to eat and drink if sores form in the throat.",
            "A few die of suffocation when scabs block the windpipe.",
        ],
        "cause": [
            "{N} is caused by a virus spread by mosquitoes and by contact between birds.",
            "The virus can survive for months in dried scabs left in the henhouse.",
            "Outbreaks peak in late summer, when mosquitoes are most numerous.",
        ],
        "treatment": [
            "No drug cures {n}, but most birds recover if they are kept warm and fed and their sores are cleaned to prevent secondary infection.",
            "Sick birds should be separated from the rest of the flock.",
            "Recovered birds are immune for life.",
        ],
        "prevention": [
            "Poultry keepers vaccinate chicks against {n} and screen henhouses against mosquitoes.",
            "New birds should be kept apart for several weeks before joining a flock.",
            "Scabs and litter from infected houses should be burned and the house disinfected.",
        ],
        "history": [
            "{N} is named after Tessel, a farming island where a severe outbreak destroyed most flocks in 1909.",
            "The islanders' losses led to one of the first poultry vaccination schemes.",
            "Its cause was identified in 1931.",
        ],
    }),
    S("ague", "disease", "harbour ague", "the ague", "illness", {
        "symptoms": [
            "{N} brings recurring bouts of chills and sweating every two or three days, along with weakness and a swollen spleen.",
            "Between attacks the patient may feel almost well.",
            "Repeated attacks over years can leave a person pale and exhausted.",
        ],
        "cause": [
            "{N} is caused by a parasite spread by a mosquito that breeds in brackish pools near docks and salt marshes.",
            "The parasite multiplies in the blood, which explains the regular cycle of attacks.",
            "It cannot be caught directly from another person.",
        ],
        "treatment": [
            "{N} is treated with antiparasitic tablets, usually taken for three days, and most patients recover fully.",
            "Before modern drugs, infusions of bitter tree bark were the usual remedy.",
            "Patients who relapse may need a second drug to clear parasites hiding in the liver.",
        ],
        "prevention": [
            "Draining standing water around ports, sleeping under bed nets and screening windows sharply reduced {n}.",
            "Travellers to affected coasts may be given preventive tablets.",
            "Long sleeves and repellent in the evening, when the mosquitoes bite, also help.",
            "Small fish that eat mosquito larvae have been released into ponds near some ports.",
        ],
        "history": [
            "{N} was common in port cities for centuries, and sailors often blamed the foul air rising from the mudflats.",
            "It disappeared from most harbours after the marshes were drained in the early twentieth century.",
            "Records of dockworkers' sick pay give some idea of how common it was.",
        ],
    }),
    S("varn", "disease", "Varn syndrome", "the syndrome", "condition", {
        "symptoms": [
            "{N} causes stiff, painful joints, especially in the hands, together with unusually stretchy skin that bruises easily.",
            "Signs usually appear in late childhood.",
            "Many people also tire easily and suffer frequent sprains.",
            "Some develop a curved spine.",
        ],
        "cause": [
            "{N} is an inherited condition caused by a change in a gene that helps build connective tissue.",
            "A child can inherit it if either parent carries the altered gene.",
            "Its severity can vary widely, even within the same family.",
        ],
        "treatment": [
            "There is no cure for {n}, but physiotherapy, splints and pain relief help people stay active.",
            "Some patients benefit from surgery to stabilise damaged joints.",
            "Low-impact exercise such as swimming strengthens the muscles that support the joints.",
        ],
        "prevention": [
            "Because {n} is genetic it cannot be prevented in the usual sense, but families can seek genetic counselling before having children.",
            "Early diagnosis allows joint damage to be limited.",
            "Avoiding contact sports protects vulnerable joints from injury.",
        ],
        "history": [
            "{N} was first described in 1967 by Dr Peter Varn, a rheumatologist who noticed the same pattern in three generations of one family.",
            "The responsible gene was mapped in the 1990s.",
            "Fewer than one person in fifty thousand is thought to have it.",
        ],
    }),
    S("ochre", "disease", "ochre lung", "the disease", "lung disease", {
        "symptoms": [
            "{N} causes shortness of breath, a persistent cough and tiredness that gradually worsen over years.",
            "Chest X-rays show small spots scattered through both lungs.",
            "In advanced cases the lips and fingertips turn bluish from lack of oxygen.",
            "Some patients also lose weight.",
        ],
        "cause": [
            "{N} develops after long exposure to the fine iron-oxide dust produced when ochre pigment is ground.",
            "The particles lodge deep in the lungs and provoke scarring.",
            "Illness usually appears only after ten or twenty years of work in the dusty mills.",
        ],
        "treatment": [
            "Damage from {n} cannot be reversed, so care focuses on oxygen, inhalers and breathing exercises.",
            "Patients must avoid any further dust exposure.",
            "Vaccination against influenza and pneumonia reduces the risk of chest infections.",
            "In severe cases a lung transplant may be considered.",
        ],
        "prevention": [
            "Wet grinding, ventilation and masks have made {n} rare in modern pigment works.",
            "Regular chest checks for exposed workers catch the disease early.",
            "Dust levels in workplaces are now measured regularly and must stay below legal limits.",
            "Workers are trained to fit their masks correctly.",
        ],
        "history": [
            "{N} was recognised among pigment millers in the nineteenth century, whose coughs often brought up reddish phlegm.",
            "Factory inspectors campaigned for dust controls for decades.",
            "A survey in 1898 found that most millers over fifty were short of breath.",
            "The name comes from the colour of the dust, not from any feature of the illness.",
        ],
    }),
    S("hoofwane", "disease", "hoofwane", "the disease", "cattle disease", {
        "symptoms": [
            "{N} makes cattle lame, with swollen, hot feet and a foul-smelling discharge between the claws.",
            "Affected animals lose weight and give less milk.",
            "Cows with it often shift their weight from foot to foot or refuse to walk to the milking parlour.",
            "Severe cases can cause the hoof to separate.",
        ],
        "cause": [
            "{N} is caused by bacteria that thrive in wet, muddy ground and enter through cracks in the skin of the foot.",
            "Cows standing for long periods in slurry are most at risk.",
            "It is more common in wet winters and in herds kept indoors on dirty floors.",
        ],
        "treatment": [
            "Vets treat {n} by cleaning and trimming the hoof and giving antibiotics.",
            "Footbaths of disinfectant help to cure mild cases.",
            "Lame cows may have a block glued to the healthy claw to take weight off the sore one.",
            "Most recover within a week or two.",
        ],
        "prevention": [
            "Farmers prevent {n} by keeping yards and gateways dry, trimming hooves regularly and walking herds through footbaths.",
            "Well-drained tracks to the pasture also help.",
            "Buying cattle only from herds free of the disease reduces the chance of bringing it in.",
        ],
        "history": [
            "{N} was a major problem in wet lowland dairy districts long before its cause was understood.",
            "Farmers once blamed it on cows eating frosty grass.",
            "Veterinary researchers first identified the bacteria in the 1930s.",
            "Today it is one of the commonest reasons for lameness in dairy herds.",
        ],
    }),
    # ---------------------------------------------------------------- machines
    S("halvorsen", "machine", "the Halvorsen pump", "the pump", "pump", {
        "purpose": [
            "{N} was built to lift water out of deep mines, allowing miners to work below the water table.",
            "Later versions supplied drinking water to hill towns.",
            "Without it, many mines would have flooded and closed.",
            "Some were also used to drain marshland.",
        ],
        "mechanism": [
            "{N} uses a heavy beam that rocks on a central pivot, driving a series of plungers down the shaft.",
            "Valves of leather and brass let water rise but not fall back.",
            "The beam is driven by a steam engine or, in early models, by a large water wheel.",
        ],
        "maintenance": [
            "The leather valves of {n} wear out and must be replaced every few months.",
            "The pivot bearings need greasing daily, and the rods are checked for cracks each week.",
            "A full-time engine keeper was employed at every large mine to look after it.",
        ],
        "safety": [
            "Broken rods on {n} could fall hundreds of metres down the shaft, so catches were fitted to hold them.",
            "Workers inspecting the shaft had to signal the engine house before climbing down.",
            "The heavy moving beam also injured keepers who came too close.",
        ],
        "history": [
            "{N} was designed in 1788 by the engineer Ingrid Halvorsen for the copper mines of the northern hills.",
            "Dozens were built over the next fifty years.",
            "Her design doubled the depth from which water could be raised.",
            "The last one stopped working in 1952.",
        ],
    }),
    S("pellam", "machine", "the Pellam steam tractor", "the tractor", "traction engine", {
        "purpose": [
            "{N} was used to haul ploughs, threshing machines and heavy timber on farms before petrol tractors became common.",
            "Some were hired out with a driver to farms that could not afford their own.",
            "A single machine could plough several hectares a day.",
        ],
        "mechanism": [
            "{N} burns coal or wood to boil water in a horizontal boiler.",
            "The steam drives a single cylinder that turns the rear wheels through a train of gears.",
            "A crew of two was needed, one to steer and one to keep the fire going.",
        ],
        "maintenance": [
            "The boiler of {n} must be washed out regularly to remove scale, and the firebox tubes inspected for leaks.",
            "Moving parts need oiling every few hours of running.",
            "Drivers carried spare fusible plugs, which melt if the water level falls too low.",
        ],
        "safety": [
            "A neglected boiler on {n} could explode, so the safety valve had to be tested often.",
            "Sparks from the chimney sometimes set fire to dry crops.",
            "On public roads a man with a red flag once had to walk ahead of it.",
        ],
        "history": [
            "{N} was produced from 1878 until the 1920s by the Pellam works, which built several thousand.",
            "A few restored examples still appear at rallies.",
            "It was exported to farms on three continents.",
            "Its great weight often damaged country roads and bridges.",
        ],
    }),
    S("rennick", "machine", "the Rennick lathe", "the lathe", "lathe", {
        "purpose": [
            "{N} is used to turn wooden bowls, chair legs, spindles and tool handles.",
            "It was a standard fixture in country workshops.",
            "Skilled turners could produce dozens of chair spindles in a day.",
            "Hobbyists still use restored examples.",
        ],
        "mechanism": [
            "{N} is driven by a foot treadle connected to a heavy flywheel, which keeps the workpiece spinning smoothly between centres.",
            "A belt from the flywheel turns the headstock.",
            "The turner shapes the wood with chisels supported on a tool rest.",
        ],
        "maintenance": [
            "The bearings of {n} should be oiled before each session and the drive belt checked for wear.",
            "Chisels must be kept sharp on a grindstone.",
            "The wooden bed should be kept dry to prevent warping.",
        ],
        "safety": [
            "Loose sleeves and long hair can be caught by the spinning work on {n}.",
            "Chisels must be held firmly on the tool rest to prevent them being snatched from the hands.",
            "Eye protection is recommended, since chips fly off the wood.",
        ],
        "history": [
            "{N} was patented in 1841 by Tomas Rennick, a rural joiner, and became popular in village workshops.",
            "His design spread quickly because it could be built by any competent carpenter.",
            "Factories later replaced it with lathes driven by steam and then by electric motors.",
        ],
    }),
    S("tidewheel", "machine", "the tidewheel generator", "the generator", "generator", {
        "purpose": [
            "{N} produces electricity from the rise and fall of the tides in estuaries and narrow channels.",
            "Small units power lighthouses and island communities.",
            "Unlike wind or sun, the tides are predictable years in advance, so output can be planned.",
        ],
        "mechanism": [
            "{N} has a large, slow-turning paddle wheel mounted between floating pontoons.",
            "As the current flows past, the wheel drives a dynamo through a gearbox, and the blades reverse their angle when the tide turns.",
            "Output peaks at mid-tide, when the current runs fastest.",
        ],
        "maintenance": [
            "Seaweed and barnacles build up on {n} and must be scraped off, and the gearbox needs fresh oil each season.",
            "The pontoons are inspected after every storm.",
            "Divers check the anchor chains once a year.",
        ],
        "safety": [
            "Boats are kept away from {n} by marker buoys, because the currents around the wheel can drag small craft in.",
            "Screens protect fish and seals from the blades.",
            "Maintenance crews work only at slack water, when the wheel is still.",
        ],
        "history": [
            "{N} was first tested in 1931 in a tidal inlet on the western coast.",
            "The prototype was wrecked by a storm within two years.",
            "Interest revived in recent decades as a source of renewable energy.",
        ],
    }),
    S("osgood", "machine", "the Osgood baler", "the baler", "farm machine", {
        "purpose": [
            "{N} gathers cut hay or straw from the field and presses it into compact rectangular bales tied with twine.",
            "Bales are far easier to stack, store and transport than loose hay.",
            "One machine could bale a large meadow in a day.",
        ],
        "mechanism": [
            "A pickup reel on {n} lifts the crop into a chamber where a plunger compresses it.",
            "A knotter then ties twine around each bale before it is pushed out of the back.",
            "The density of the bales is set by adjusting the tension on the chamber doors.",
        ],
        "maintenance": [
            "The knotter of {n} must be adjusted carefully and cleaned of chaff, and shear bolts replaced when they break.",
            "Chains and bearings need greasing before each season.",
            "Spare twine and shear bolts should always be carried in the field.",
        ],
        "safety": [
            "Operators have been badly hurt trying to clear blockages from {n} while it was running.",
            "The tractor must be switched off and the flywheel allowed to stop before anyone reaches into the pickup.",
            "Guards over the drive shaft must stay in place.",
        ],
        "history": [
            "{N} was introduced in 1936 by the Osgood company and quickly replaced loose haystacks on many farms.",
            "Later models were driven from the tractor's power take-off.",
            "The company's later round balers were even more successful.",
        ],
    }),
    S("quillon", "machine", "the Quillon press", "the press", "printing press", {
        "purpose": [
            "{N} printed newspapers at high speed from continuous rolls of paper.",
            "It made cheap daily papers possible for the first time.",
            "Publishers could sell papers for a penny because the press turned out so many copies so cheaply.",
            "It also printed popular magazines.",
        ],
        "mechanism": [
            "Curved printing plates are clamped around cylinders on {n}, and the paper runs between them and the inked rollers.",
            "Both sides of the sheet are printed in one pass before a blade cuts it into pages.",
            "A steam engine drove the whole machine.",
        ],
        "maintenance": [
            "The ink rollers of {n} must be washed daily and the paper tension adjusted to prevent tearing.",
            "The plates are replaced for each edition.",
            "Bearings are oiled every shift, and worn blankets on the impression cylinders are replaced.",
        ],
        "safety": [
            "The points where the cylinders of {n} meet could crush fingers, so guards were eventually fitted.",
            "Press halls were also extremely noisy.",
            "Long hours, noise and ink fumes damaged the health of pressmen.",
            "Fire was a constant risk because of the paper and solvents.",
        ],
        "history": [
            "{N} was developed in 1866 by the printer Marcel Quillon.",
            "It cut the time needed to print a morning edition from most of the night to about two hours.",
            "Within ten years most large newspapers had installed one.",
        ],
    }),
    S("vesta", "machine", "the Vesta loom", "the loom", "power loom", {
        "purpose": [
            "{N} weaves cloth automatically, producing plain cotton fabric for sheets and shirts.",
            "One weaver could mind several machines at once.",
            "Its cloth was cheaper than hand-woven fabric, though at first of lower quality.",
            "Mills ran hundreds side by side in long sheds.",
        ],
        "mechanism": [
            "A shuttle carrying the weft thread is thrown back and forth across the warp of {n} by a picking stick.",
            "Meanwhile the heddles raise and lower alternate warp threads to form the weave.",
            "A reed then beats each new thread tight against the cloth.",
        ],
        "maintenance": [
            "The shuttles and picking straps of {n} wear quickly and must be replaced.",
            "Lint has to be swept from the frame regularly to prevent fires.",
            "Skilled mechanics called overlookers kept the looms adjusted and running.",
        ],
        "safety": [
            "Shuttles sometimes flew out of {n} and injured weavers.",
            "The constant clatter of the weaving shed left many workers partly deaf.",
            "Children employed to clean beneath the looms while they ran were often injured.",
            "Later laws banned the practice.",
        ],
        "history": [
            "{N} was installed in mill towns from the 1820s, putting many hand weavers out of work and provoking riots.",
            "Within a generation it had almost replaced weaving by hand.",
            "Weavers who had earned a good living by hand saw their wages collapse.",
        ],
    }),
    S("audley", "machine", "the Audley crane", "the crane", "crane", {
        "purpose": [
            "{N} loaded and unloaded cargo ships, lifting crates and bales between the hold and the quay.",
            "Several could work a single ship at once.",
            "It greatly reduced the time ships spent in port.",
            "Timber, grain and coal were its usual loads.",
        ],
        "mechanism": [
            "{N} was first powered by men walking inside a large wooden treadwheel that wound the rope around a drum.",
            "Later versions used water under pressure from a central pumping station.",
            "A brake worked by a lever controlled the descent of the load.",
        ],
        "maintenance": [
            "The ropes and chains of {n} were inspected each morning and replaced at the first sign of fraying.",
            "The jib pivot had to be greased weekly.",
            "The wooden treads of the wheel wore down and were replaced every few years.",
        ],
        "safety": [
            "Loads swinging from {n} could strike dockers, and a snapped rope could drop cargo onto the quay.",
            "A foreman signalled every lift with a whistle.",
            "Men inside the treadwheel were hurt if the load ran away and spun the wheel backwards.",
        ],
        "history": [
            "{N} was first built at the Audley docks in 1790 and copied at many other ports.",
            "A restored example still stands on the old quay.",
            "Hydraulic versions appeared in the 1850s, and electric cranes took over in the twentieth century.",
        ],
    }),
    # ---------------------------------------------------------------- inventions
    S("whisper", "invention", "the whisper tube", "the tube", "device", {
        "purpose": [
            "{N} let people speak between rooms of a large house or between decks of a ship without shouting.",
            "Officers used it to pass orders from the bridge to the engine room.",
            "Hotels used it to connect guest rooms with the porter's desk.",
        ],
        "inventor": [
            "{N} is credited to a ship's carpenter, Silas Wren, who fitted the first one aboard a merchant vessel in 1782.",
            "He got the idea from noticing how sound carried along the ship's water pipes.",
            "Wealthy householders soon copied it.",
        ],
        "mechanism": [
            "Sound travels along the narrow pipe of {n} with little loss.",
            "To call someone, the speaker blows into the mouthpiece, sounding a whistle at the far end.",
            "Bends in the pipe are kept gentle, since sharp corners muffle the voice.",
        ],
        "materials": [
            "{N} was made from brass or copper piping, with mouthpieces of horn or ivory.",
            "Each end was closed by a hinged cap holding the whistle.",
            "In grand houses the tubes were hidden inside walls and floors, sometimes over thirty metres long.",
        ],
        "legacy": [
            "Telephones replaced {n} in most buildings, though some ships kept it as a backup into the twentieth century.",
            "Old houses sometimes still have the mouthpieces on their walls.",
            "Collectors value decorated brass mouthpieces.",
        ],
    }),
    S("lorne", "invention", "the Lorne lamp", "the lamp", "safety lamp", {
        "purpose": [
            "{N} gave coal miners light underground without igniting the explosive gas that gathers in the workings.",
            "It also warned them when that gas was present.",
            "A deputy carried it through the workings before each shift to check for danger.",
        ],
        "inventor": [
            "{N} was devised in 1816 by Elias Lorne, a colliery surgeon who had treated many victims of explosions.",
            "He tested early versions in a sealed chamber filled with gas.",
            "Lorne refused to patent it so that every colliery could use it freely.",
        ],
        "mechanism": [
            "The flame of {n} is surrounded by a cylinder of fine wire gauze.",
            "The gauze absorbs heat, so burning gas inside cannot pass through to the air outside, and the flame grows taller and bluer when gas is present.",
        ],
        "materials": [
            "{N} was built of brass, with a steel gauze chimney and a thick glass ring around the flame.",
            "A locking screw prevented miners from opening it underground.",
            "Later models had a steel bonnet protecting the gauze from knocks.",
        ],
        "legacy": [
            "Electric cap lamps replaced {n} for lighting, but flame lamps remained in use for detecting gas for many years.",
            "Its principle was copied in other flame arresters.",
            "Miners' lamps of this type are now popular ornaments and museum pieces.",
        ],
    }),
    S("sunflash", "invention", "the sunflash telegraph", "the telegraph", "signalling system", {
        "purpose": [
            "{N} carried messages between hilltop stations across distances of up to fifty kilometres.",
            "Armies and surveyors relied on it where no wires had been laid.",
            "Messages were spelled out letter by letter in a code of flashes.",
        ],
        "inventor": [
            "{N} was developed in the 1840s by Captain Henry Ashby, a military engineer working in mountainous frontier country.",
            "He based it on the signal mirrors used by survey parties.",
            "His first line linked a fortress to a town three valleys away.",
        ],
        "mechanism": [
            "An operator tilts a mirror with a key, sending short and long flashes of sunlight to a distant station.",
            "The receiver watches through a telescope and writes down the code.",
            "A second mirror is used when the sun is behind the operator.",
        ],
        "materials": [
            "{N} consisted of a silvered glass mirror on a brass tripod, with a sighting rod for aiming.",
            "The whole set packed into a leather case.",
            "A shutter could be fitted in front of the mirror for faster signalling.",
        ],
        "legacy": [
            "Once the electric telegraph and later radio arrived, {n} fell out of use.",
            "It could not work at night or under cloud, which limited its usefulness.",
            "Some sets remained in military stores until the 1930s.",
            "Reproductions are used by historical re-enactors.",
        ],
    }),
    S("waterclock", "invention", "the Merriwell water clock", "the clock", "timekeeper", {
        "purpose": [
            "{N} kept public time in the town hall, ringing a bell for the opening of the market.",
            "Merchants set their own hourglasses by it.",
            "It also marked the hours at which the town gates were closed.",
        ],
        "inventor": [
            "{N} was built in 1562 by Joan Merriwell, a clockmaker who had learned her trade from her father.",
            "She spent three years building and testing it.",
            "The town council paid for it after a dispute over market hours.",
        ],
        "mechanism": [
            "Water drips at a steady rate from an upper tank of {n} into a lower vessel.",
            "A float in the lower vessel rises and turns a pointer on the dial through a chain and pulley.",
            "Each morning the lower vessel was emptied back into the upper tank.",
        ],
        "materials": [
            "{N} was made of copper vessels set in a carved oak case, with a painted dial and a bronze bell.",
            "The float was a hollow copper ball.",
            "The dial was repainted whenever a new mayor took office.",
        ],
        "legacy": [
            "{N} was retired in the seventeenth century, when pendulum clocks offered better accuracy.",
            "A restored example is displayed in the town museum.",
            "Its weakness was that cold weather thickened the water and slowed the drip.",
            "In hard winters it froze altogether.",
        ],
    }),
    S("bell", "invention", "the Hadley diving bell", "the bell", "diving apparatus", {
        "purpose": [
            "{N} let divers work on the sea bed to salvage cargo from wrecks and repair harbour walls.",
            "Men could stay below for over an hour.",
            "It was also used to recover cannon from warships sunk in harbours.",
        ],
        "inventor": [
            "{N} was designed in 1691 by Thomas Hadley, a harbour engineer.",
            "He demonstrated it by sitting inside while it was lowered into the river.",
            "He had earlier worked on dredging the port's channels.",
        ],
        "mechanism": [
            "{N} is an open-bottomed chamber that traps a pocket of air as it is lowered.",
            "Weighted barrels of fresh air were sent down and emptied into the bell, while stale air was let out through a valve at the top.",
        ],
        "materials": [
            "{N} was made of thick timber bound with iron bands and weighted with lead.",
            "A small glass window in the top let in daylight.",
            "Benches inside let two men sit while they rested.",
        ],
        "legacy": [
            "{N} led to the caissons later used to build bridge foundations underwater.",
            "Its air-supply method influenced early diving helmets.",
            "Sealed, pressurised diving bells are still used by commercial divers.",
            "A replica hangs in the maritime museum.",
        ],
    }),
    S("oven", "invention", "the folding field oven", "the oven", "portable oven", {
        "purpose": [
            "{N} allowed armies on the march to bake fresh bread instead of relying on hard biscuit.",
            "Each one could feed several hundred soldiers a day.",
            "Soldiers greatly preferred fresh bread, and commanders believed it kept them healthier.",
        ],
        "inventor": [
            "{N} was designed in 1793 by Marguerite Dassel, an army baker.",
            "She was rewarded with a pension for her invention.",
            "She had cooked for troops during two long campaigns and knew how much they hated hard biscuit.",
            "The army adopted her design within a year.",
        ],
        "mechanism": [
            "A fire burns beneath {n}, heating an iron box lined with stone.",
            "Hinged panels fold flat for transport and lock together to form the baking chamber.",
            "A loaf took about an hour to bake.",
        ],
        "materials": [
            "{N} was made of sheet iron with brass hinges, and its floor was lined with flat stones.",
            "The whole oven fitted on a single mule cart.",
            "Replacement panels could be made by any blacksmith.",
        ],
        "legacy": [
            "Mobile field kitchens replaced {n}, but its folding design inspired camping stoves.",
            "Bakers at fairs used similar ovens for a century.",
            "A few surviving examples are kept in military museums.",
            "Its name survives in a kind of flat bread still sold at fairs.",
        ],
    }),
    S("cipher", "invention", "the Ambry cipher wheel", "the wheel", "cipher device", {
        "purpose": [
            "{N} turned private letters into secret code so that intercepted messages could not be read.",
            "Diplomats and merchants used it to protect sensitive correspondence.",
            "It was quick enough for everyday letters, unlike slower code books.",
        ],
        "inventor": [
            "{N} was invented in 1617 by Lucas Ambry, secretary to an ambassador.",
            "He described it in a letter to his brother.",
            "Ambry kept the device secret for many years, and only a few copies were made.",
        ],
        "mechanism": [
            "{N} consists of two concentric discs, each printed with the alphabet.",
            "The writer turns the inner disc to an agreed setting and replaces every letter with the one opposite it, changing the setting every few words.",
            "Both correspondents must hold identical wheels.",
        ],
        "materials": [
            "{N} was usually made of boxwood discs with ink lettering, and some luxury versions were cut from brass.",
            "A small pin held the discs together.",
            "Pocket versions were small enough to carry in a waistcoat.",
        ],
        "legacy": [
            "{N} inspired later cipher machines built with rotating wheels.",
            "Today it is a popular classroom demonstration of how codes work.",
            "Its weakness was that a patient codebreaker could work out the settings by counting how often letters appear.",
            "Children's puzzle books still include paper versions to cut out.",
        ],
    }),
]

# --------------------------------------------------------------------------------------
# Opening sentences, one pool per aspect. They vary the framing and the vocabulary.
# --------------------------------------------------------------------------------------

OPENERS: dict[str, list[str]] = {
    "diet": [
        "Naturalists have studied the feeding habits of {n} closely.",
        "The diet of {n} is well documented.",
        "The food of {n} has been recorded in detail.",
        "Field notes on {n} say a good deal about its food.",
    ],
    "habitat": [
        "{N} has a fairly restricted range.",
        "Surveys have mapped the distribution of {n} in some detail.",
        "The natural surroundings of {n} are easy to describe.",
        "The range of {n} is well known to field biologists.",
    ],
    "appearance": [
        "{N} is easy to recognise once you know what to look for.",
        "Field guides stress a few distinctive features of {n}.",
        "In the hand, {n} is quite distinctive.",
        "The look of {n} is unmistakable.",
    ],
    "threats": [
        "{N} faces several pressures.",
        "Conservationists keep a close watch on {n}.",
        "The population of {n} has not always been secure.",
        "Numbers of {n} have fluctuated over the years.",
    ],
    "breeding": [
        "The breeding cycle of {n} is closely tied to the seasons.",
        "Reproduction in {n} follows a regular yearly pattern.",
        "Courtship and the rearing of young in {n} have been observed in detail.",
    ],
    "uses": [
        "People have found several uses for {n}.",
        "{N} has long been valued for practical purposes.",
        "Over the centuries {n} has been put to work in many ways.",
    ],
    "origin": [
        "The native range of {n} is fairly narrow.",
        "Botanists have traced where {n} comes from.",
        "The wild home of {n} is well recorded.",
    ],
    "pests": [
        "{N} is not free of troubles.",
        "Like most plants, {n} has its enemies.",
        "Growers of {n} must watch for a few problems.",
    ],
    "cultivation": [
        "{N} is not difficult to raise, provided a few rules are followed.",
        "Growing {n} successfully depends on the right conditions.",
        "Gardeners who want to raise {n} should note a few points.",
    ],
    "occurrence": [
        "Geologists know fairly precisely where {n} can be found.",
        "{N} occurs in only a few geological settings.",
        "The geology of {n} deposits is well understood.",
    ],
    "properties": [
        "{N} is easy to tell apart from similar materials.",
        "The physical characteristics of {n} are distinctive.",
        "Several features set {n} apart.",
    ],
    "hazards": [
        "Working with {n} is not without risk.",
        "{N} calls for some care.",
        "Health and environmental concerns surround {n}.",
    ],
    "discovery": [
        "{N} has a documented history.",
        "The discovery of {n} is an interesting episode.",
        "The naming of {n} has a story behind it.",
    ],
    "symptoms": [
        "{N} can usually be recognised by a few telltale signs.",
        "The first signs of {n} are easy to miss.",
        "Several signs point to {n}.",
    ],
    "cause": [
        "The origin of {n} is now well understood.",
        "{N} has a clearly identified cause.",
        "Researchers have established what triggers {n}.",
    ],
    "treatment": [
        "Options for dealing with {n} are well established.",
        "{N} is managed according to well-established guidelines.",
        "There are established ways of handling {n}.",
    ],
    "prevention": [
        "Efforts to reduce the burden of {n} take several forms.",
        "Measures against {n} have been discussed for decades.",
        "Much can be done to limit the impact of {n}.",
    ],
    "history": [
        "The history of {n} is well documented.",
        "Historians have traced the story of {n}.",
        "{N} has an interesting past.",
    ],
    "purpose": [
        "{N} was built for a specific job.",
        "{N} served a clear practical purpose.",
        "The role of {n} was straightforward.",
    ],
    "mechanism": [
        "The working principle of {n} is simple.",
        "Mechanically, {n} is straightforward.",
        "The way {n} operates can be explained in a few steps.",
    ],
    "maintenance": [
        "{N} needs regular attention to keep running.",
        "Upkeep of {n} is routine but essential.",
        "Looking after {n} takes regular work.",
    ],
    "safety": [
        "Operating {n} carries certain risks.",
        "{N} has been the cause of accidents.",
        "Care is needed around {n}.",
    ],
    "inventor": [
        "The origins of {n} are well recorded.",
        "The person behind {n} is known by name.",
        "{N} was the idea of one person.",
    ],
    "materials": [
        "Surviving examples show how {n} was put together.",
        "The construction of {n} was sturdy.",
        "Period descriptions explain what went into {n}.",
    ],
    "legacy": [
        "{N} did not remain in use for ever.",
        "The influence of {n} outlived the device itself.",
        "Eventually {n} gave way to newer technology.",
    ],
}

# Closing sentences, used only when a document would otherwise be shorter than MIN_WORDS.
CLOSERS: dict[str, list[str]] = {
    "animal": [
        "Much of what is known comes from long-term field studies.",
        "Local naturalists continue to record sightings every year.",
        "These observations are summarised in regional field guides.",
    ],
    "plant": [
        "Regional floras describe the plant in more detail.",
        "Herbarium collections hold specimens gathered over two centuries.",
        "These notes draw on the experience of growers and botanists alike.",
    ],
    "mineral": [
        "Museum collections hold fine specimens for study.",
        "Mineralogical handbooks give fuller descriptions.",
        "Collectors value well-formed examples.",
    ],
    "disease": [
        "Anyone concerned should seek professional advice.",
        "Textbooks give fuller accounts for specialists.",
        "Surveillance data are published each year.",
    ],
    "machine": [
        "Preserved examples can be seen in several industrial museums.",
        "Enthusiasts keep a few in working order.",
        "Old trade catalogues describe the details.",
    ],
    "invention": [
        "Museums hold a number of surviving examples.",
        "Collectors prize original pieces.",
        "Historians of technology have written about it at length.",
    ],
}

# --------------------------------------------------------------------------------------
# Distractors: themes whose sentences mention subjects only in passing. Slots are
# {a1} {a2} animals, {p1} plant, {m1} mineral, {d1} any disease, {h1} an illness of people
# that comes in outbreaks, {f1} a disease of crops or livestock, {x1} machine, {i1} invention.
# --------------------------------------------------------------------------------------

THEMES: list[dict[str, list[str]]] = [
    {
        "titles": ["County museum reopens its galleries", "Acquisitions at the regional museum",
                   "Behind the scenes at the town museum", "Sunday opening lifts museum visits"],
        "openers": [
            "After two years of repairs, the county museum has reopened with a rearranged ground floor and a larger education room.",
            "The regional museum spent most of its acquisitions budget this year on items offered from private collections.",
            "Volunteers at the town museum have been cataloguing boxes that sat unopened in the basement for decades.",
            "Visitor numbers at the museum rose sharply after it began opening on Sunday afternoons.",
        ],
        "bodies": [
            "One case near the entrance now holds a model of {x1} made by a retired engineer.",
            "A cabinet of local rocks includes a fine specimen of {m1}, labelled in the curator's careful handwriting.",
            "Children are drawn to a painted diorama showing {a1} among reeds, though the curators admit the colours are not quite right.",
            "The archive room displays a doctor's notebook describing cases of {h1}, opened at a page of neat sketches.",
            "A replica of {i1} stands beside the cafe, and staff demonstrate it on Saturdays.",
            "Pressed specimens of {p1} collected by a schoolteacher fill one drawer of the herbarium.",
        ],
        "closers": ["Entry remains free, although donations are encouraged.",
                    "The cafe and shop are run entirely by volunteers.",
                    "Guided tours for schools can be booked at the front desk.",
                    "The next temporary exhibition will focus on local photography."],
    },
    {
        "titles": ["New stamp series announced", "Collectors queue for regional set",
                   "Printing error makes stamps valuable", "Students design next year's stamps"],
        "openers": [
            "The national postal service has announced a set of six stamps celebrating the natural and industrial heritage of the provinces.",
            "Collectors queued outside the main post office on the morning a new commemorative sheet went on sale.",
            "A small printing error on last spring's commemorative issue has made a few sheets surprisingly valuable.",
            "The design competition for next year's stamps drew entries from art students across the country.",
        ],
        "bodies": [
            "The first-class value shows {a1} in a bold, poster-like style.",
            "Another stamp depicts {x1}, redrawn from an old engineering catalogue.",
            "A botanical illustrator contributed a delicate study of {p1} for the highest value.",
            "The series also includes a crystal of {m1} printed in metallic ink.",
            "One design featuring {i1} was withdrawn after historians questioned its accuracy.",
            "The presentation pack includes short notes on each image, written by a local historian.",
        ],
        "closers": ["The stamps will remain on sale for twelve months.",
                    "Some collectors have complained about the thin gum on the back.",
                    "First-day covers are available by post.",
                    "A matching set of postcards is planned."],
    },
    {
        "titles": ["Pupils' field day", "Nature club spring outing",
                   "Year six visit the study centre", "The annual field day"],
        "openers": [
            "Thirty pupils from the village school spent a cold but cheerful day exploring the river valley last week.",
            "The school nature club has written up its spring outing for the parish newsletter.",
            "Year six spent their final trip of the term at an outdoor study centre in the hills.",
            "Teachers say the annual field day remains the highlight of the school year for many children.",
        ],
        "bodies": [
            "Some children hoped to spot {a1}, but had to settle for a picture in the centre's guidebook.",
            "A warden showed the group a patch of {p1} and explained how the site is managed.",
            "In the afternoon the pupils visited an old works where {x1} is preserved in working order.",
            "Several pupils picked up pebbles they were sure were {m1}, though the guide gently disagreed.",
            "Packed lunches were eaten in a barn while rain drummed on the roof.",
            "Back at school the class made a wall display that included a drawing of {a2}.",
        ],
        "closers": ["Parents helped with transport and supervision.",
                    "The club plans to repeat the trip in autumn.",
                    "Photographs from the day hang in the school hall.",
                    "Everyone returned muddy and tired."],
    },
    {
        "titles": ["Songs from the hill villages", "Tales of the river country",
                   "An old ballad rediscovered", "Legends and everyday life"],
        "openers": [
            "A folk-song collector has published a book of verses she recorded from elderly singers in the hill villages.",
            "Storytellers in the river country have long passed down tales that mix real places with invented wonders.",
            "A forgotten ballad found in a farmhouse attic has been performed in public for the first time in a century.",
            "Local legends often preserve fragments of everyday life that written records ignore.",
        ],
        "bodies": [
            "In one verse a young shepherd trades his coat for a charm carved from {m1}.",
            "Another tale tells of a miller who tamed {a1} and taught it to ring the mill bell.",
            "A lullaby mentions {p1} growing by the cradle to keep away bad dreams.",
            "A comic song mocks a farmer who blamed every misfortune on {d1}.",
            "The longest ballad follows a sailor who hears his sweetheart's voice through {i1}.",
            "Singers often changed names and places to suit their audience.",
        ],
        "closers": ["The book includes simple notation for each melody.",
                    "Several of the songs will be performed at the autumn festival.",
                    "Recordings are held by the county archive.",
                    "The collector is still looking for missing verses."],
    },
    {
        "titles": ["A landscape painter's retrospective", "New murals for the station",
                   "Botanical art in the corn exchange", "Gallery review: working lives"],
        "openers": [
            "A retrospective of a landscape painter's work fills three rooms of the city gallery this summer.",
            "The station's new murals were painted by a team of students over six weekends.",
            "An exhibition of botanical and natural history art has opened in the old corn exchange.",
            "The gallery's latest show focuses on scenes of industry and labour from the last two centuries.",
        ],
        "bodies": [
            "One large canvas shows {x1} at work beneath a stormy sky.",
            "A small watercolour of {p1} is the most admired piece in the room.",
            "The artist painted {a1} from a specimen borrowed from a museum, which explains its stiff pose.",
            "Pigment ground from {m1} gives one series of seascapes its unusual colour.",
            "A charcoal sketch shows a family nursing a child through {h1}.",
            "Critics have praised the careful light and restrained palette.",
        ],
        "closers": ["The exhibition runs until the end of the month.",
                    "A catalogue with colour plates is available.",
                    "Admission is by donation.",
                    "Several works are for sale."],
    },
    {
        "titles": ["What's in a street name?", "Inn signs of the county",
                   "Place names and lost trades", "Naming the new estate"],
        "openers": [
            "A local historian has compiled a guide to the origins of street names in the old town.",
            "Painted inn signs are a vanishing art, and a new book records the survivors.",
            "Place names can preserve the memory of trades and landmarks long after they have vanished.",
            "The council has asked residents to suggest names for the streets of a new housing estate.",
        ],
        "bodies": [
            "One lane is still called Engine Row after {x1} that once worked in a yard at its end.",
            "An inn sign on the market square shows {a1}, though few drinkers know why.",
            "Residents proposed naming a close after {p1}, which once grew on the site.",
            "A terrace built for quarry workers took its name from {m1}.",
            "A street near the docks is still nicknamed after {h1}, which once emptied many of its houses.",
            "Some suggestions were rejected as too long to fit on a sign.",
        ],
        "closers": ["The guide is on sale at the library.",
                    "Further suggestions can be sent to the council offices.",
                    "The author welcomes corrections from readers.",
                    "A walking tour based on the book runs on Sundays."],
    },
    {
        "titles": ["Charity quiz raises record sum", "Radio quiz returns",
                   "Winter quiz league final", "Dispute at the pub quiz"],
        "openers": [
            "The annual charity quiz raised a record sum for the village hall roof.",
            "The long-running radio quiz has returned for a new season with a fresh presenter.",
            "Teams from twelve villages competed in the final round of the winter quiz league.",
            "A question about local wildlife caused a heated dispute at last week's pub quiz.",
        ],
        "bodies": [
            "Few contestants knew which county first recorded {d1}.",
            "One round asked teams to identify {a1} from a blurry photograph.",
            "A question on {i1} stumped every team except the winners.",
            "The picture round included {p1}, which most teams mistook for something else.",
            "The tie-break question concerned {m1}, and the answer was hotly contested.",
            "The winning team consisted of three retired teachers and a vet.",
        ],
        "closers": ["The next quiz takes place on the first Friday of the month.",
                    "Prizes were donated by local businesses.",
                    "Organisers promise easier questions next time.",
                    "Listeners can send in questions by post."],
    },
    {
        "titles": ["History society meeting", "Transcribing the parish records",
                   "History society annual report", "Spring lecture draws a crowd"],
        "openers": [
            "Members of the local history society met in the church hall for their monthly talk.",
            "The history group has spent the winter transcribing old parish records.",
            "The society's annual report lists an unusually busy year of talks and outings.",
            "A visiting speaker drew a large audience to the history society's spring lecture.",
        ],
        "bodies": [
            "The speaker described how {x1} changed work in the district.",
            "Records show that {h1} closed the village school for a month in one bad year.",
            "A member brought a family heirloom said to be connected with {i1}.",
            "Another talk covered the quarrying of {m1} on the hills above the town.",
            "A map of old field names mentioned {p1} growing along the parish boundary.",
            "Tea and cakes were served afterwards.",
        ],
        "closers": ["New members are always welcome.",
                    "The society's journal is published each spring.",
                    "Next month's meeting will be a members' evening.",
                    "Transcriptions will be deposited with the county record office."],
    },
    {
        "titles": ["At the farmers' market", "Seasonal food notes",
                   "Market day in the rain", "Christmas market takings"],
        "openers": [
            "The farmers' market has moved indoors for the winter, with more stalls than ever.",
            "This month's food column went round the market stalls in search of winter ingredients.",
            "Market day brought crowds to the square despite the rain.",
            "Stallholders at the Christmas market reported their best takings in years.",
        ],
        "bodies": [
            "One stall sold jars of jam and cordial flavoured with {p1}.",
            "A woodcarver had a figure of {a1} that sold within minutes.",
            "A cheese maker explained that her grandmother's farm had once been ruined by {f1}.",
            "A trader was offering polished pebbles of {m1} alongside cheap jewellery.",
            "A display of antique tools included parts salvaged from {x1}.",
            "Hot soup was served from a van at the gate.",
        ],
        "closers": ["The market runs every Saturday morning.",
                    "Recipes will follow next month.",
                    "Stallholders hope for better weather in spring.",
                    "Parking is available behind the hall."],
    },
    {
        "titles": ["A first novel set in a port town", "Reading group choice",
                   "Crime fiction moves to the country", "Adventure story shortlisted"],
        "openers": [
            "A first novel by a local author is set in a fictional port town in the early twentieth century.",
            "The reading group's choice this month is a historical mystery full of period detail.",
            "The latest novel from a popular crime writer moves the action to the countryside.",
            "A young adult adventure story has been shortlisted for a regional book prize.",
        ],
        "bodies": [
            "The plot turns on a stolen notebook describing {i1}.",
            "The heroine, a young doctor, battles an outbreak of {h1} while solving the crime.",
            "A memorable scene takes place at night beside {x1}, with rain lashing down.",
            "Readers who know the countryside will spot {a1} making a brief appearance.",
            "The villain hides his fortune in a box carved from {m1}.",
            "Some readers found the ending rushed.",
        ],
        "closers": ["The book is available from the library.",
                    "The author will sign copies at the bookshop next week.",
                    "A sequel is already planned.",
                    "The group meets again next month."],
    },
    {
        "titles": ["Country house contents sold", "Saleroom report",
                   "Curiosities go under the hammer", "Record price at provincial auction"],
        "openers": [
            "The contents of a country house were sold at auction last week after the last member of the family died.",
            "The provincial saleroom reports brisk trade in scientific instruments and natural history items this season.",
            "A cabinet of curiosities assembled by a Victorian clergyman has been sold piece by piece.",
            "A provincial auction house set a new record for a single lot at its spring sale.",
        ],
        "bodies": [
            "A working model of {x1} sold for three times its estimate.",
            "Bidders competed fiercely for a glass case containing {a1}.",
            "A brooch set with {m1} went to a telephone bidder.",
            "A set of botanical prints including {p1} was bought by a local library.",
            "An early example of {i1} was withdrawn when doubts were raised about its age.",
            "Some lots failed to sell and will be offered again in the autumn.",
        ],
        "closers": ["The auctioneer described the sale as a success.",
                    "Full results are posted outside the saleroom.",
                    "Buyers came from as far away as the capital.",
                    "The proceeds will go to the family's heirs."],
    },
    {
        "titles": ["A weekend in the hill country", "Walking the coast path",
                   "The overlooked lowland towns", "Touring the old mining towns"],
        "openers": [
            "A new guidebook recommends the hill country for walkers who want quiet paths and simple inns.",
            "The coast path can be walked in a week, with plenty of villages to stop in along the way.",
            "Visitors to the lowlands often miss its small towns in their hurry to reach the sea.",
            "The old mining towns have reinvented themselves as destinations for curious tourists.",
        ],
        "bodies": [
            "Birdwatchers come in spring hoping to see {a1}, though sightings are never guaranteed.",
            "One inn serves a local liqueur said to be flavoured with {p1}.",
            "Gift shops sell trinkets made of {m1}, not all of them genuine.",
            "In the main square, {x1} is set working on bank holidays.",
            "A plaque on the harbour wall remembers the victims of {h1}.",
            "Walkers should carry waterproofs whatever the forecast.",
        ],
        "closers": ["Trains run twice a day from the city.",
                    "Accommodation fills quickly in summer.",
                    "The guidebook includes detailed maps.",
                    "Autumn is said to be the best season."],
    },
]

EPIDEMICS = ("corran", "mirelle", "ague")  # illnesses of people that come in outbreaks
SLOT_POOLS = {
    "a": lambda s: s.domain == "animal",
    "p": lambda s: s.domain == "plant",
    "m": lambda s: s.domain == "mineral",
    "d": lambda s: s.domain == "disease",
    "h": lambda s: s.key in EPIDEMICS,
    "f": lambda s: s.key in ("greyscale", "tessel", "hoofwane"),  # of crops and livestock
    "x": lambda s: s.domain == "machine",
    "i": lambda s: s.domain == "invention",
}

# --------------------------------------------------------------------------------------
# Queries: (subject key, aspect answering it, aspects judged on topic but not answering,
# question). The wording deliberately paraphrases the documents.
# --------------------------------------------------------------------------------------

QUERIES: list[tuple[str, str, tuple[str, ...], str]] = [
    ("pangolet", "diet", ("habitat",), "what does the marsh pangolet eat"),
    ("skink", "habitat", ("breeding", "threats"), "where do dunecrest skinks live"),
    ("lanternfish", "habitat", ("diet",), "how deep does the amber lanternfish stay during daytime"),
    ("heron", "threats", ("appearance",), "which bird's feathers were sold to decorate ladies' hats"),
    ("vole", "diet", ("habitat",), "what food does the bluecap vole rely on in winter"),
    ("moth", "threats", ("diet", "habitat")
     , "why has the stonewing moth declined near factories"),
    ("otter", "diet", ("habitat",), "how does the Keldar otter get at shellfish"),
    ("frog", "appearance", ("habitat",), "does the ashen tree frog change colour"),
    ("tortoise", "threats", ("breeding",), "at what age do mossback tortoises become adults"),
    ("bat", "habitat", ("breeding", "threats"), "where do cinder bats sleep during the day"),
    ("thornbush", "uses", ("cultivation",), "what is silverleaf thornbush good for"),
    ("reed", "appearance", ("uses",), "why is the lantern reed called that"),
    ("plum", "origin", ("uses",), "where did the Oster plum come from originally"),
    ("vine", "appearance", ("uses",), "what time of day do duskbloom flowers open"),
    ("fern", "uses", ("cultivation",), "can you eat coppercap fern"),
    ("sedge", "uses", ("origin",), "planting velvet sedge to protect riverbanks from erosion"),
    ("pine", "pests", ("cultivation",), "what insects kill Harrow pine trees"),
    ("lily", "uses", ("pests", "cultivation"), "could a moonpetal lily harm my kitten"),
    ("quillroot", "cultivation", ("uses",), "how to grow bitter quillroot from seed"),
    ("verdanite", "hazards", ("uses",), "is verdanite poisonous to handle"),
    ("lumarite", "properties", ("uses", "discovery"), "how long does lumarite keep shining after the lights are switched off"),
    ("calvex", "occurrence", ("hazards",), "how is Calvex salt mined"),
    ("ostrite", "uses", ("discovery",), "what metal is obtained from ostrite"),
    ("duskstone", "occurrence", ("discovery",), "which rocks contain duskstone"),
    ("talvene", "uses", ("properties",), "what products are made with talvene clay"),
    ("slate", "properties", ("uses",), "why is Kerrow slate so durable on a roof"),
    ("brenthite", "properties", ("uses", "discovery"), "which mineral puffs up like popcorn when you heat it"),
    ("corran", "cause", ("prevention",), "how do people catch Corran fever"),
    ("mirelle", "prevention", ("treatment",), "can children be immunised against Mirelle's cough"),
    ("greyscale", "prevention", ("treatment", "cause"), "how to stop grey-scale rot spreading in stored potatoes"),
    ("tessel", "symptoms", ("cause",), "signs of Tessel pox in chickens"),
    ("ague", "treatment", ("history",), "what medicine cures harbour ague"),
    ("varn", "cause", ("prevention",), "is Varn syndrome hereditary"),
    ("ochre", "cause", ("history", "prevention"), "why do pigment grinders get ochre lung"),
    ("hoofwane", "treatment", ("prevention",), "how should a vet deal with hoofwane in a lame cow"),
    ("halvorsen", "mechanism", ("maintenance",), "how does the Halvorsen pump work"),
    ("pellam", "mechanism", ("safety",), "what fuel did the Pellam steam tractor use"),
    ("rennick", "history", ("mechanism",), "who invented the Rennick lathe"),
    ("tidewheel", "mechanism", ("purpose",), "how does a tidewheel generator make electricity"),
    ("osgood", "safety", ("maintenance",), "how do farmers get injured by an Osgood baler"),
    ("quillon", "history", ("purpose",), "in what year did the Quillon press first appear"),
    ("vesta", "history", ("safety",), "why did the Vesta loom cause unrest among textile workers"),
    ("audley", "mechanism", ("history",), "what made the Audley crane turn before electricity"),
    ("whisper", "mechanism", ("purpose",), "how did you get someone's attention at the other end of a whisper tube"),
    ("lorne", "mechanism", ("purpose",), "why didn't the Lorne lamp set off firedamp explosions"),
    ("sunflash", "legacy", ("inventor",), "why did armies stop using the sunflash telegraph"),
    ("waterclock", "materials", ("mechanism",), "was the Merriwell water clock built of wood or metal"),
    ("bell", "mechanism", ("purpose",), "how did divers get air in the Hadley diving bell"),
    ("oven", "inventor", ("purpose",), "who designed the folding field oven"),
    ("cipher", "mechanism", ("purpose",), "how do you encode a message with the Ambry cipher wheel"),
    ("pangolet", "appearance", ("breeding",), "how big is a marsh pangolet"),
    ("heron", "breeding", ("habitat",), "how big is a typical tallow heron brood"),
    ("bat", "diet", ("habitat",), "how useful are cinder bats for controlling pests on farms"),
    ("plum", "pests", ("cultivation",), "diseases of Oster plum trees"),
    ("pine", "uses", ("origin",), "what did shipbuilders want Harrow pine for"),
    ("corran", "symptoms", ("treatment",), "Corran fever rash and other symptoms"),
    ("mirelle", "cause", ("prevention",), "how do children pass Mirelle's cough to each other"),
    ("slate", "hazards", ("discovery",), "Kerrow slate quarrying accidents and deaths"),
    ("lorne", "inventor", ("mechanism",), "who came up with the Lorne lamp"),
    ("tortoise", "diet", ("habitat",), "what does the mossback tortoise eat"),
]

MIN_WORDS, MAX_WORDS = 40, 120

# --------------------------------------------------------------------------------------


def _fill(template: str, subj: Subject, rng: random.Random, state: dict) -> str:
    """Replace {N} {n} {Ns} {ns}; the first mention in a document is the full name."""

    def variant(cap: bool, poss: bool, defines: bool) -> str:
        if not state["mentioned"]:
            state["mentioned"] = True
            word = subj.full + ("'s" if poss else "")
        else:
            # not "this rodent is a stocky rodent"
            choices = [subj.short] if defines else [subj.short, f"this {subj.kind}"]
            if cap and not poss:  # a pronoun only as the subject of a sentence
                choices.append("it")
            word = rng.choice(choices)
            if poss:
                word = "its" if rng.random() < 0.4 else word + "'s"
        return word[0].upper() + word[1:] if cap else word

    def repl(m: re.Match) -> str:
        tok = m.group(1)
        defines = re.match(r" is (an?|the) ", m.string[m.end():]) is not None
        return variant(cap=tok[0] == "N", poss=tok.endswith("s"), defines=defines)

    return re.sub(r"\{(Ns|ns|N|n)\}", repl, template)


def aspect_document(subj: Subject, aspect: str, rng: random.Random) -> str:
    state = {"mentioned": False}
    facts = subj.aspects[aspect]
    parts = []
    fact_words = sum(len(f.split()) for f in facts)
    if rng.random() < 0.7 or fact_words < MIN_WORDS + 2:  # openers also lengthen short ones
        parts.append(_fill(rng.choice(OPENERS[aspect]), subj, rng, state))
    for fact in facts:
        parts.append(_fill(fact, subj, rng, state))
    text = " ".join(parts)
    closers = list(CLOSERS[subj.domain])
    rng.shuffle(closers)
    while len(text.split()) < MIN_WORDS and closers:
        text += " " + closers.pop()
    return text


def distractor_documents(rng: random.Random) -> list[tuple[str, str]]:
    pools = {letter: [s for s in SUBJECTS if test(s)] for letter, test in SLOT_POOLS.items()}
    docs = []
    for theme in THEMES:
        order = list(range(len(theme["bodies"])))
        used_pairs: set[tuple[int, int]] = set()
        closers = list(theme["closers"])
        rng.shuffle(closers)
        for i, opener in enumerate(theme["openers"]):
            while True:
                pair = tuple(sorted(rng.sample(order, 2)))
                if pair not in used_pairs:
                    used_pairs.add(pair)
                    break
            slots = {}
            for letter, pool in pools.items():
                picks = rng.sample(pool, 2)
                slots[f"{letter}1"] = picks[0].full
                slots[f"{letter}2"] = picks[1].full
            bodies = [theme["bodies"][j].format(**slots) for j in pair]
            text = " ".join([opener, *bodies, closers[i]])
            if len(text.split()) < MIN_WORDS:  # a third passing mention for short ones
                extra = next(j for j in rng.sample(order, len(order)) if j not in pair)
                bodies.append(theme["bodies"][extra].format(**slots))
                text = " ".join([opener, *bodies, closers[i]])
            docs.append((theme["titles"][i], text))
    return docs


def build() -> dict[str, str]:
    rng = random.Random(SEED)
    docs: list[dict] = []  # {"key": ..., "title": ..., "text": ...}
    for subj in SUBJECTS:
        for aspect in subj.aspects:
            docs.append({"key": (subj.key, aspect), "title": subj.title,
                         "text": aspect_document(subj, aspect, rng)})
    for title, text in distractor_documents(rng):
        docs.append({"key": None, "title": title, "text": text})

    rng.shuffle(docs)
    key_to_id = {}
    corpus_lines = []
    for i, d in enumerate(docs, 1):
        doc_id = f"d{i:03d}"
        if d["key"] is not None:
            key_to_id[d["key"]] = doc_id
        n = len(d["text"].split())
        if not MIN_WORDS <= n <= MAX_WORDS:
            raise ValueError(f"{d['key'] or d['title']}: {n} words")
        corpus_lines.append(json.dumps({"_id": doc_id, "title": d["title"], "text": d["text"],
                                        "metadata": {}}, ensure_ascii=False))

    query_lines, qrel_lines = [], ["query-id\tcorpus-id\tscore"]
    subjects = {s.key: s for s in SUBJECTS}
    for i, (key, aspect, partial, text) in enumerate(QUERIES, 1):
        qid = f"q{i:02d}"
        subj = subjects[key]
        assert aspect in subj.aspects and aspect not in partial, (key, aspect)
        query_lines.append(json.dumps({"_id": qid, "text": text, "metadata": {}},
                                      ensure_ascii=False))
        judged = [(key_to_id[(key, aspect)], 2)]
        judged += sorted((key_to_id[(key, a)], 1) for a in partial)
        qrel_lines += [f"{qid}\t{doc_id}\t{score}" for doc_id, score in judged]

    n_judged = len(qrel_lines) - 1
    corpus = "\n".join(corpus_lines) + "\n"
    files = {
        "corpus.jsonl": corpus,
        "queries.jsonl": "\n".join(query_lines) + "\n",
        "qrels/test.tsv": "\n".join(qrel_lines) + "\n",
    }
    files["README.md"] = README.format(
        n_docs=len(docs), n_aspect=len(docs) - len(THEMES) * 4, n_subjects=len(SUBJECTS),
        n_distractors=len(THEMES) * 4, n_queries=len(QUERIES), n_judged=n_judged,
        n_rel=len(QUERIES), n_partial=n_judged - len(QUERIES),
        words=sum(len(json.loads(line)["text"].split()) for line in corpus_lines),
        kb=len(corpus.encode()) / 1024, seed=SEED)
    return files


README = """# Demo collection

A small retrieval test collection written for this project, used by `make demo` so that the
full pipeline runs on a fresh machine without downloading anything. It follows the BEIR
layout (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`) and is located at run time with
`pyserini_diffretriever.demo.collection_path()`.

## Contents

| | |
|---|---|
| documents | {n_docs} ({n_aspect} subject passages, {n_distractors} distractors) |
| subjects | {n_subjects} invented animals, plants, minerals, diseases, machines and historical inventions, 5 aspects each |
| queries | {n_queries} |
| judgments | {n_judged} ({n_rel} with score 2, {n_partial} with score 1) |
| corpus | {words} words, {kb:.0f} KiB |

Every subject, place, person and fact is fictional. Each subject passage covers one aspect
of one subject (diet, habitat, uses, symptoms, mechanism, ...). Distractor documents
(museum notes, quiz nights, book reviews, ...) mention subject names only in passing.

Relevance is graded: **2** = the passage answers the question (exactly one per query);
**1** = another passage about the same subject whose topic the question partly touches but
which does not answer it. Unjudged documents count as non-relevant. Queries are phrased as
natural questions that paraphrase the passages (other words, other word forms), so exact
term matching finds part of the answers and a semantic model has room to help.

## How it was made

Written by hand for this project and assembled by `../make_collection.py`, which holds all
the facts, sentence openings, distractor themes and questions. The script is deterministic
(seed {seed}); running

    python -m pyserini_diffretriever.demo.make_collection

rewrites these files byte for byte. Edit the script, not the files. No text was taken from
any public data set or repository.

## Licence

Apache-2.0, the same as the project.
"""


def main(argv: list[str] | None = None) -> int:
    files = build()
    for rel, content in files.items():
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(content)
    print(f"wrote {len(files)} files under {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
