import BrevitasCLI

Brevitas.main()
