/**
 * Aliases of digests (CLI style rule 2): two words a person can say and remember, such as "amber-otter", made
 * from a digest's first two bytes, an adjective for the first and an animal for the second. An alias is a
 * readable name for the digest's first 4 hex digits: there are 65,536 of them, so in a registry of some
 * hundreds of images two can share one, and a command given an alias that names several lists them, as it
 * does for a short prefix.
 */

// 256 of each, lowercase a-z, no word in both lists. Their order is part of every alias: never reorder them.
const words = (text: string): string[] => text.trim().split(/\s+/);
const ADJECTIVES = words(`
able acid aged airy alert alive amber ample apt arid ashen astral avid awake azure baggy bald balmy
bare basic beige best big black bland blank blazing blithe blue blunt bold bony boreal brave brief
bright brisk broad bronze brown bubbly bumpy burly busy calm candid carmine casual chalky cheery
chilly clean clear clever close cloudy coarse coastal cobalt cold cool coral cosmic cozy crisp curly
cyan damp dapper daring dark dear deep dense dewy dry dusky dusty eager early earthy easy elder
elfin emerald epic equal even fair fancy fast fawn feisty fierce fine firm first fleet fluent fluffy
focal foggy fond frank free fresh frosty full fuzzy gentle giant gilded glad glossy golden good
grand grassy great green grey gritty hale handy happy hardy hazel hazy hearty heavy hidden hilly
hollow honest humble husky icy ideal indigo ivory jade jolly jovial keen kind lanky large late
lavish lean level light lilac limber linear lithe lively local lofty long loud lucid lucky lunar
lush lyric magic major maple marine mellow merry mighty mild milky minor misty modest moist mossy
narrow native neat new nimble noble north novel oaken ocean olive open orange orchid outer pale
paper patient peach pearl perky petite pine plain plucky plush polar polite prime proud pure quick
quiet rapid rare ready regal rich ripe robust rocky rosy round royal ruby rugged rural rustic safe
sage salty sandy satin scarlet sharp sheer shiny short silent silky silver simple sleek slim small
smart smooth snowy snug soft solar solid sonic spare sparkly spicy
`);
const ANIMALS = words(`
aardvark adder albatross alpaca anchovy ant antelope ape armadillo asp auk avocet baboon badger
barracuda bass bat bear beaver bee beetle bison boar bobcat bongo buffalo bull bunny buzzard camel
canary caribou carp cat catfish chamois cheetah chicken chinchilla chipmunk cicada clam cobra
cockatoo cod condor cougar cow coyote crab crane cricket crow cuckoo curlew dingo dodo dolphin
donkey dormouse dove dragonfly duck dugong eagle eel egret eland elephant elk emu falcon ferret
finch firefly flamingo flounder fly fox frog gannet gazelle gecko gerbil gibbon giraffe gnat gnu
goat goldfinch goose gopher gorilla grouse gull guppy hamster hare harrier hawk hedgehog heron
herring hippo hornet horse hound hyena ibex ibis iguana impala jackal jaguar jay jellyfish kangaroo
kestrel kingfisher kite kiwi koala koi krill ladybug lamb lark lemming lemur leopard limpet lion
lizard llama lobster locust loon lory lynx macaw magpie mallard manatee mantis marmot marten meerkat
mink minnow mole mongoose monkey moose moth mouse mule muskox narwhal newt nightjar ocelot octopus
okapi opossum orca oriole oryx osprey ostrich otter owl ox oyster panda panther parrot partridge
peacock pelican penguin perch petrel pheasant pig pigeon pike plover pony porcupine possum prawn
puffin puma python quail quokka rabbit raccoon ram raven ray reindeer rhino robin rook salmon
sardine scorpion seal shark sheep shrew shrimp skink skunk sloth slug smelt snail snake snipe
sparrow spider squid squirrel starling stingray stoat stork sturgeon swallow swan swift tapir
tarsier tern termite thrush tiger toad tortoise toucan trout tuna turkey turtle urchin viper vole
vulture wallaby walrus warbler wasp weasel whale
`);

const ALIAS = /^([a-z]+)-([a-z]+)$/;

/** The two word lists, for code that makes aliases elsewhere (the dashboard's page script). */
export const ALIAS_WORDS: { readonly adjectives: readonly string[]; readonly animals: readonly string[] } = {
  adjectives: ADJECTIVES,
  animals: ANIMALS,
};

/** The alias of a sha256 digest (`sha256:` and 64 hex digits, or just the hex), or null for anything else. */
export function aliasOf(digest: string): string | null {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!/^[0-9a-f]{4,64}$/.test(hex)) return null;
  return `${ADJECTIVES[Number.parseInt(hex.slice(0, 2), 16)]}-${ANIMALS[Number.parseInt(hex.slice(2, 4), 16)]}`;
}

/** The 4 hex digits an alias names, or null when `text` is not an alias. */
export function prefixOfAlias(text: string): string | null {
  const m = ALIAS.exec(text);
  if (m === null) return null;
  const first = ADJECTIVES.indexOf(m[1]!);
  const second = ANIMALS.indexOf(m[2]!);
  if (first < 0 || second < 0) return null;
  return first.toString(16).padStart(2, '0') + second.toString(16).padStart(2, '0');
}
