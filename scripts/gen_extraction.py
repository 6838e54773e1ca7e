#!/usr/bin/env python3
"""Synthetic ANS extraction `Extraction_Correspondance_MSSante` for tests and the demo.

UTF-8, `|`-separated, one header line, the 31 columns of mssante-psc.md section 3.3.
Deterministic for a given --seed. A few lines are deliberately broken (wrong column
count, empty or invalid address, non-UTF-8 bytes) and a few addresses are repeated, so
the importer's report has something to say. All names and numbers are invented.

    python3 scripts/gen_extraction.py --rows 50000 --seed 42 -o extraction.txt
"""
import argparse
import random
import sys
import unicodedata

COLUMNS = [
    "Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
    "Identification nationale PP", "Type identifiant structure", "Identification Structure",
    "Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
    "Catégorie profession", "Libellé de catégorie profession", "Code Profession",
    "Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
    "Raison Sociale structure BAL", "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION", "L3COMPLEMENTDISTRIBUTION", "L4NUMEROVOIE",
    "L4COMPLEMENTNUMEROVOIE", "NL4TYPEVOIE", "L4LIBELLEVOIE", "L5LIEUDITMENTION",
    "L6LIGNEACHEMINEMENT", "Code postal", "Département", "Pays",
]

FIRST_F = ["Hélène", "Zoé", "Anaïs", "Gaëlle", "Cécile", "Léa", "Chloé", "Aurélie", "Élodie",
           "Inès", "Célia", "Marie-Noëlle", "Adèle", "Adeline", "Sophie", "Camille", "Manon",
           "Émilie", "Amélie", "Noémie", "Clémence", "Maëlys", "Françoise", "Agnès", "Béatrice",
           "Laëtitia", "Océane", "Séverine", "Mélanie", "Nathalie", "Isabelle", "Juliette"]
FIRST_M = ["Jérôme", "François", "Noël", "Loïc", "Maël", "Stéphane", "Frédéric", "Benoît",
           "Jean-Pierre", "Joël", "Raphaël", "Mathéo", "Thomas", "Nicolas", "Julien", "Hervé",
           "Grégoire", "Sébastien", "Cédric", "Rémi", "Jérémy", "Émile", "André", "Gaël",
           "Pierre", "Alain", "Olivier", "Éric", "Théo", "Hugo", "Lucas", "Bruno"]
LAST = ["MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND",
        "LEROY", "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID",
        "BERTRAND", "ROUX", "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRÉ", "LEFÈVRE",
        "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANÇOIS", "MARTINEZ", "LEGRAND", "GARNIER",
        "FAURE", "ROUSSEAU", "BLANC", "GUÉRIN", "MULLER", "HENRY", "ROUSSEL", "NICOLAS",
        "PERRIN", "MORIN", "MATHIEU", "CLÉMENT", "GAUTHIER", "DUMONT", "LOPEZ", "FONTAINE",
        "CHEVALIER", "ROBIN", "MASSON", "SANCHEZ", "GÉRARD", "NGUYEN", "BOYER", "DENIS",
        "LEMAIRE", "DUVAL", "JOLY", "ROCHE", "NOËL", "MEYER", "LUCAS", "MEUNIER", "PÉREZ",
        "MARCHAND", "DUFOUR", "BLANCHARD", "BARBIER", "BRUN", "DUMAS", "BRUNET", "SCHMITT",
        "LEROUX", "COLIN", "FERNANDEZ", "RENARD", "ARNAUD", "ROLLAND", "CARON", "AUBERT",
        "GIRAUD", "LECLERC", "VIDAL", "BOURGEOIS", "RENAUD", "LEMOINE", "PICARD", "GAILLARD",
        "LACROIX", "FABRE", "DUPUIS", "OLIVIER", "HUBERT", "RIVIÈRE", "LE GALL", "LE ROUX",
        "D'ALMEIDA", "DE LA FONTAINE", "BÉRANGER", "LÉVÊQUE", "CŒUR", "GOUDAL", "BAUNY",
        "SORIN", "BOUCHARD", "ALEXANDRE", "O'NEILL", "DA SILVA", "BRIÈRE", "CHÂTEL"]

# (code, label, weight, specialties, libéral domain)
PROFESSIONS = [
    ("10", "Médecin", 30, [("SM26", "Qualifié en médecine générale"),
                           ("SM04", "Cardiologie et maladies vasculaires"),
                           ("SM54", "Pédiatrie"), ("SM42", "Psychiatrie"),
                           ("SM15", "Dermatologie et vénéréologie"), ("SM53", "Ophtalmologie"),
                           ("SM02", "Anesthésie-réanimation"),
                           ("SM18", "Gynécologie-obstétrique"),
                           ("SM40", "Radiodiagnostic et imagerie médicale")], "medecin"),
    ("21", "Pharmacien", 10, [("", "")], "pharmacien"),
    ("40", "Chirurgien-dentiste", 5, [("", ""), ("SCD01", "Orthopédie dento-faciale")], "chirurgien-dentiste"),
    ("50", "Sage-femme", 4, [("", "")], "sage-femme"),
    ("60", "Infirmier", 30, [("", ""), ("SI02", "Infirmier anesthésiste")], "infirmier"),
    ("70", "Masseur-kinésithérapeute", 10, [("", "")], "masseur-kinesitherapeute"),
    ("80", "Pédicure-podologue", 3, [("", "")], "pedicure-podologue"),
    ("91", "Orthophoniste", 3, [("", "")], "orthophoniste"),
    ("92", "Orthoptiste", 1, [("", "")], "orthoptiste"),
    ("94", "Ergothérapeute", 2, [("", "")], "ergotherapeute"),
    ("96", "Manipulateur ERM", 2, [("", "")], "manipulateur-erm"),
]

# (postal code, city as in L6, département)
PLACES = [("75009", "PARIS", "Paris"), ("75013", "PARIS", "Paris"),
          ("44093", "NANTES", "Loire-Atlantique"), ("44200", "NANTES", "Loire-Atlantique"),
          ("44600", "SAINT-NAZAIRE", "Loire-Atlantique"), ("69003", "LYON", "Rhône"),
          ("13005", "MARSEILLE", "Bouches-du-Rhône"), ("31059", "TOULOUSE", "Haute-Garonne"),
          ("42100", "SAINT-ÉTIENNE", "Loire"), ("33000", "BORDEAUX", "Gironde"),
          ("59000", "LILLE", "Nord"), ("67000", "STRASBOURG", "Bas-Rhin"),
          ("35000", "RENNES", "Ille-et-Vilaine"), ("49100", "ANGERS", "Maine-et-Loire"),
          ("72000", "LE MANS", "Sarthe"), ("85000", "LA ROCHE-SUR-YON", "Vendée"),
          ("53000", "LAVAL", "Mayenne"), ("06000", "NICE", "Alpes-Maritimes"),
          ("34000", "MONTPELLIER", "Hérault"), ("38000", "GRENOBLE", "Isère"),
          ("97400", "SAINT-DENIS", "La Réunion"), ("94240", "L'HAŸ-LES-ROSES", "Val-de-Marne"),
          ("80000", "AMIENS", "Somme"), ("29200", "BREST", "Finistère"),
          ("21000", "DIJON", "Côte-d'Or"), ("63000", "CLERMONT-FERRAND", "Puy-de-Dôme"),
          ("87000", "LIMOGES", "Haute-Vienne"), ("20000", "AJACCIO", "Corse-du-Sud"),
          ("97200", "FORT-DE-FRANCE", "Martinique"), ("57000", "METZ", "Moselle")]

HOSPITALS = ["CENTRE HOSPITALIER UNIVERSITAIRE DE {c}", "CENTRE HOSPITALIER DE {c}",
             "HÔPITAL PRIVÉ DE {c}", "CLINIQUE SAINT-AUGUSTIN", "CLINIQUE DE L'ESPÉRANCE",
             "EHPAD LES GLYCINES", "CENTRE DE SANTÉ MUNICIPAL DE {c}",
             "MAISON DE SANTÉ PLURIPROFESSIONNELLE DES LILAS", "GCS E-SANTÉ {c}"]
LIBERAL = ["CABINET MÉDICAL DES TILLEULS", "CABINET DU DR {n}", "PHARMACIE DE L'ÉGLISE",
           "PHARMACIE CENTRALE", "CABINET D'INFIRMIERS DU CENTRE", "CABINET DE KINÉSITHÉRAPIE",
           "SELARL {n} ET ASSOCIÉS", ""]
SERVICES = ["Secrétariat cardiologie", "Service des urgences", "Pôle femme-enfant",
            "Bureau des entrées", "Laboratoire de biologie médicale", "Pharmacie à usage intérieur",
            "Service de psychiatrie adulte", "Imagerie médicale", "Accueil"]
STREETS = [("RUE", "DE LA RÉPUBLIQUE"), ("AV", "JEAN JAURÈS"), ("BD", "VICTOR HUGO"),
           ("PL", "ALEXIS RICORDEAU"), ("RUE", "DES ÉCOLES"), ("CHE", "DES PRÉS"),
           ("RUE", "DU GÉNÉRAL DE GAULLE"), ("AV", "DE L'HÔPITAL"), ("QU", "DE LA FOSSE")]


def ascii_slug(s):
    s = unicodedata.normalize("NFKD", s.replace("œ", "oe").replace("Œ", "OE"))
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    out = []
    for c in s:
        if c.isalnum():
            out.append(c)
        elif c in " -'" and out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=50_000, help="data lines (default 50000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--broken", type=int, default=None,
                    help="deliberately broken lines (default max(3, rows/5000))")
    ap.add_argument("--header-variant", choices=["plain", "suffixed"], default="plain",
                    help="'suffixed' adds ' structure BAL' to the address columns, as some versions do")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    broken = a.broken if a.broken is not None else max(3, a.rows // 5000)
    broken_at = set(rnd.sample(range(2, a.rows), min(broken, max(0, a.rows - 2)))) if a.rows > 3 else set()
    weights = [p[2] for p in PROFESSIONS]
    used = set()
    emitted = []
    out = sys.stdout.buffer if a.output == "-" else open(a.output, "wb")
    header = list(COLUMNS)
    if a.header_variant == "suffixed":
        header = [h + " structure BAL" if h.startswith(("L", "NL")) or h in ("Code postal", "Département", "Pays") else h
                  for h in header]
    out.write(("|".join(header) + "\n").encode())
    for i in range(a.rows):
        if i in broken_at:
            kind = i % 4
            if kind == 0:
                out.write("PER|ligne.tronquee@medecin.mssante.fr|8|10000000000\n".encode())
            elif kind == 1:
                out.write(("PER||8|10000000001|810000000001" + "|" * 26 + "\n").encode())
            elif kind == 2:
                out.write(("PER|pas une adresse|8|10000000002|810000000002" + "|" * 26 + "\n").encode())
            else:
                out.write(b"PER|caf\xe9@medecin.mssante.fr|8|10000000003|810000000003" + b"|" * 26 + b"\n")
            continue
        # A few addresses appear twice, as in the real file (one box, several situations).
        if emitted and rnd.random() < 0.0005:
            out.write(rnd.choice(emitted))
            continue
        pc, city, dept = rnd.choice(PLACES)
        num, typ_voie, lib = str(rnd.randint(1, 180)), *rnd.choice(STREETS)
        hospital = rnd.random() < 0.45
        structure = rnd.choice(HOSPITALS if hospital else LIBERAL)
        if rnd.random() < 0.13:
            # Organisational box: no person, a service of a structure.
            service = rnd.choice(SERVICES)
            structure = (rnd.choice(HOSPITALS)).format(c=city, n="")
            dom = "ch-" + ascii_slug(city) + ".mssante.fr"
            mail = ascii_slug(service).replace("-", ".") + "@" + dom
            k = 1
            while mail in used:
                k += 1
                mail = ascii_slug(service).replace("-", ".") + str(k) + "@" + dom
            fields = ["ORG", mail, "", "", "", "1", "1" + "".join(rnd.choice("0123456789") for _ in range(8)),
                      service, "", "", "", "", "", "", "", "", "", "O",
                      structure, "", "", "", num, "", typ_voie, lib, "", f"{pc} {city}", pc, dept, "France"]
        else:
            code, label, _, specs, dom_prof = rnd.choices(PROFESSIONS, weights)[0]
            female = rnd.random() < 0.6
            first = rnd.choice(FIRST_F if female else FIRST_M)
            last = rnd.choice(LAST)
            if rnd.random() < 0.1:
                last = last.title() if "'" not in last else last
            spec_code, spec_label = rnd.choice(specs)
            if code in ("60", "70", "80", "91") and rnd.random() < 0.3:
                id_type, id_pp = "0", f"{pc[:2]}{rnd.randint(0, 9999999):07d}"
            else:
                id_type, id_pp = "8", "10" + f"{rnd.randint(0, 999999999):09d}"
            if hospital:
                dom = ascii_slug(structure.format(c=city, n=last))[:20].strip("-") + ".mssante.fr"
            else:
                dom = dom_prof + ".mssante.fr"
            local = ascii_slug(first).replace("-", "") + "." + ascii_slug(last)
            mail = local + "@" + dom
            k = 1
            while mail in used:
                k += 1
                mail = f"{local}{k}@{dom}"
            civ = "Mme" if female else "M"
            if code == "10" and rnd.random() < 0.7:
                civ = "Dr"
            fields = ["PER", mail, id_type, id_pp, id_type + id_pp,
                      "1" if hospital else "", ("1" + f"{rnd.randint(0, 99999999):08d}") if hospital else "",
                      rnd.choice(SERVICES) if hospital and rnd.random() < 0.3 else "",
                      civ, last, first, "C", "Civil", code, label, spec_code, spec_label,
                      rnd.choice(["O", "N"]), structure.format(c=city, n=last), "",
                      "BÂTIMENT B" if rnd.random() < 0.05 else "", "", num,
                      "BIS" if rnd.random() < 0.03 else "", typ_voie, lib, "",
                      f"{pc} {city}" + (" CEDEX" if rnd.random() < 0.05 else ""), pc, dept, "France"]
        used.add(mail)
        line = ("|".join(fields) + "\n").encode()
        if len(emitted) < 1000:
            emitted.append(line)
        out.write(line)
    out.flush()


if __name__ == "__main__":
    main()
