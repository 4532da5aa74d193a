"""The example stories shipped in ``config.example.toml``, kept here so tests check them.

Each query was written against hard negatives (see ``tests/stories/test_matching.py``);
the choices, and what they cost, are:

venezuela
    Venezuela's politics and crisis, in English, Spanish and Russian. Names that only
    occur in that story (Maduro, Guaidó, Machado, Edmundo González, chavismo) count
    on their own. Beauty pageants are excluded ("Miss Venezuela", "Miss Universe",
    "pageant", "beauty queen", and the Spanish terms), so an item about a pageant is
    dropped even when a politician appears in it. Plain ``Maduro`` can also catch the
    Spanish adjective *maduro* ("ripe"); rare in news feeds, accepted.
wagner
    The Wagner Group (PMC Wagner) and Prigozhin. "Wagner" alone is a surname shared by
    a composer, a baseball player and many others, so it counts only next to a word
    from the mercenaries' world (Russia*, Kremlin, Putin, mercenar*, Mali, Libya,
    Bakhmut, mutiny ...). Composer and baseball items are excluded outright (opera,
    Bayreuth, "Richard Wagner", Honus, baseball) even if they mention Russia. ``opera``
    is whole-word on purpose: ``opera*`` would also drop "operations", a word
    Wagner Group reports use all the time.
sudan
    The war in Sudan. ``Sudan`` is a whole word here, so "South Sudan" also contains
    it: an item counts as Sudan news only if it does not say "South Sudan" (or
    "Sudán del Sur", "Южный Судан"), or if it names a place, force or leader of the
    war (Khartoum, Darfur, El Fasher, Rapid Support Forces, Burhan, Hemedti ...).
    So South Sudan's own news and its football team are out; an item about refugees
    crossing into South Sudan counts only when it names one of those. Sports items are
    excluded (football, soccer, FIFA, AFCON).
"""

from __future__ import annotations

EXAMPLE_STORIES: dict[str, str] = {
    "venezuela": (
        "Venezuel* OR venezolan* OR Caracas OR Maduro OR Guaidó OR chavismo OR chavista*"
        ' OR "Corina Machado" OR "Edmundo González" OR Венесуэл* OR Мадуро'
        ' -"Miss Venezuela" -"Miss Universe" -pageant* -"beauty queen" -"beauty queens"'
        ' -"reina de belleza" -"certamen de belleza"'
    ),
    "wagner": (
        '"Wagner Group" OR "Wagner PMC" OR "PMC Wagner" OR "Grupo Wagner" OR "groupe Wagner"'
        " OR Prigozhin* OR Prigojine OR Prigoschin OR (ЧВК Вагнер*) OR вагнеровц* OR Пригожин*"
        " OR (Wagner (mercenar* OR paramilitar* OR militia* OR Russia* OR Kremlin OR Putin"
        ' OR Mali OR Libya OR Sudan OR Bakhmut OR mutiny OR "Africa Corps"))'
        ' -opera -operas -operatic -Bayreuth -Wagnerian -"Richard Wagner" -Honus -baseball'
    ),
    "sudan": (
        '(Sudan -"South Sudan" -"Sudán del Sur") OR (Sudanese -"South Sudanese")'
        " OR Khartoum OR Jartum OR Darfur OR Omdurman OR Kordofan OR Fasher OR Fashir"
        ' OR "Port Sudan" OR "Rapid Support Forces" OR Hemedti OR Dagalo OR Burhan'
        ' OR (Судан* -"Южный Судан" -"Южного Судана" -"Южном Судане" -южносуданск*)'
        " OR Хартум* OR Дарфур*"
        " -football -soccer -FIFA -AFCON"
    ),
}
"""Story name -> watchlist query, as in ``config.example.toml``."""
